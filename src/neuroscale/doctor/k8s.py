"""Small readers of Kubernetes object fields shared by the rules (pure)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from neuroscale.doctor.index import Obj, SnapshotIndex, condition, dig, labels_of, name_of, namespace_of
from neuroscale.findings import ObjectRef

#: Namespaces whose pods are platform controllers rather than user workloads.
PLATFORM_NAMESPACES = frozenset(
    {"argocd", "kserve", "knative-serving", "kourier-system", "kyverno", "opencost", "kube-system", "istio-system"}
)
PULL_FAILURES = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})


def ref(obj: Obj, kind: str | None = None) -> ObjectRef:
    return ObjectRef(
        kind=kind or str(obj.get("kind", "")), name=name_of(obj), namespace=namespace_of(obj),
        api_version=str(obj.get("apiVersion", "")),
    )


def container_statuses(pod: Obj) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    found = list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])
    return [s for s in found if isinstance(s, Mapping)]


def waiting(status: Mapping[str, Any]) -> tuple[str, str]:
    state = dig(status, "state", "waiting") or {}
    return str(state.get("reason", "")), str(state.get("message", ""))


def pod_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def is_true(obj: Obj, type_: str) -> bool:
    cond = condition(obj, type_)
    return bool(cond and cond.get("status") == "True")


def app_messages(app: Obj) -> list[str]:
    """Every message an Argo CD Application carries: conditions, operation state, sync results."""
    found = [str(c.get("message", "")) for c in dig(app, "status", "conditions") or [] if isinstance(c, Mapping)]
    found.append(str(dig(app, "status", "operationState", "message") or ""))
    for res in dig(app, "status", "operationState", "syncResult", "resources") or []:
        if isinstance(res, Mapping) and res.get("status") in ("SyncFailed", "Failed"):
            found.append(str(res.get("message", "")))
    return [m for m in found if m]


def app_status(app: Obj) -> str:
    sync = dig(app, "status", "sync", "status") or ""
    health = dig(app, "status", "health", "status") or ""
    return f"status.sync.status={sync} status.health.status={health}"


def pods_of_service(index: SnapshotIndex, service: Obj) -> Iterator[Obj]:
    """Pods the Service's selector picks (first selector label narrows via the label index)."""
    selector = dig(service, "spec", "selector") or {}
    if not selector:
        return
    first_key, first_value = next(iter(selector.items()))
    for pod in index.with_label("Pod", first_key, str(first_value)):
        labels = labels_of(pod)
        if namespace_of(pod) == namespace_of(service) and all(labels.get(k) == v for k, v in selector.items()):
            yield pod


def ready_addresses(index: SnapshotIndex, namespace: str, service: str) -> int:
    count = 0
    for slice_ in index.endpoint_slices(namespace, service):
        for endpoint in slice_.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready", True):
                count += len(endpoint.get("addresses") or [])
    return count


def pod_problem(pod: Obj) -> str:
    """One line naming what is wrong with a pod's containers ('' if nothing)."""
    parts = []
    for status in container_statuses(pod):
        reason, message = waiting(status)
        if reason:
            parts.append(f"{status.get('name')} {reason}" + (f": {message}" if message else ""))
        elif not status.get("ready") and "running" not in (status.get("state") or {}):
            parts.append(f"{status.get('name')} not ready")
    return "; ".join(parts)


#: Controllers whose events say why a revision's pods could not be created.
POD_CREATORS = ("ReplicaSet", "Deployment", "Revision")


def creation_refusals(index: SnapshotIndex, needle: str) -> dict[str, str]:
    """Per namespace, the last controller event whose message contains `needle`, as evidence text."""
    refused: dict[str, str] = {}
    for kind in POD_CREATORS:
        for obj in index.objects(kind):
            for event in index.events_for(kind, namespace_of(obj), name_of(obj)):
                if needle in str(event.get("message", "")):
                    refused[namespace_of(obj)] = f"{kind}/{name_of(obj)} event {event.get('reason')}: " \
                                                 f"{event.get('message')}"
    return refused
