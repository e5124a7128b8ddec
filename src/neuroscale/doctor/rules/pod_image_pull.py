"""FM-16 / FM-20: a container image cannot be pulled.

The reference lost the KServe webhook to `gcr.io/kubebuilder/kube-rbac-proxy`
returning 403: one sidecar stuck in ImagePullBackOff left the controller pod
unready, the webhook Service without endpoints, and every InferenceService
create denied. This finding names the image and explains what depends on the pod.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, name_of, namespace_of
from neuroscale.doctor.k8s import PLATFORM_NAMESPACES, PULL_FAILURES, container_statuses, ref, waiting
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

DEAD_REGISTRIES = ("gcr.io/kubebuilder/",)


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for pod in index.objects("Pod"):
        for status in container_statuses(pod):
            reason, message = waiting(status)
            if reason not in PULL_FAILURES:
                continue
            image = str(status.get("image", ""))
            pull_events = [str(e.get("message", "")) for e in index.events_for("Pod", namespace_of(pod), name_of(pod))
                           if e.get("reason") == "Failed"]
            evidence = f"containerStatuses[{status.get('name')}].state.waiting.reason={reason}: {message}"
            if pull_events:
                evidence += f"; event: {pull_events[-1]}"
            dead = image.startswith(DEAD_REGISTRIES)
            platform = namespace_of(pod) in PLATFORM_NAMESPACES
            found.append(RULE.finding(
                obj=ref(pod, "Pod"),
                category=Category.CONTROLLERS if platform else Category.WORKLOADS,
                message=f"image {image} cannot be pulled ({reason})",
                evidence=evidence,
                root_cause=(f"the registry of {image} no longer serves it (gcr.io restricted kubebuilder images), so "
                            "the pod never becomes Ready" if dead else
                            f"the image {image} cannot be pulled (wrong name or tag, private registry, or no "
                            "network), so the pod never becomes Ready"),
                fix=("remove or replace the container in Git, e.g. a kustomize patch "
                     f"`containers: [{{name: {status.get('name')}, $patch: delete}}]`, commit, push, and let "
                     "Argo CD sync (a `kubectl patch` alone is reverted by self-heal, FM-02)"
                     if dead else f"fix the image reference in Git (check: `docker pull {image}`), commit and push"),
                explains_when=(f"pod {namespace_of(pod)}/{name_of(pod)}",),
            ))
    return found


RULE = Rule(
    id="image-pull", title="Images pullable", covers=("FM-16", "FM-20"),
    category=Category.CONTROLLERS, severity=Severity.ERROR, check=check,
)
