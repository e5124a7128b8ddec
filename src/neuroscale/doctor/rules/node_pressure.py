"""FM-10: the node is out of memory (Istio and friends on one small k3d node).

Signals: node conditions MemoryPressure/DiskPressure/PIDPressure, containers
whose last termination was OOMKilled, and an Istio control plane running next
to Kourier (about 1 GB spent on an ingress nobody uses).
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, condition, name_of
from neuroscale.doctor.k8s import container_statuses, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

_PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure")


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for node in index.objects("Node"):
        for type_ in _PRESSURES:
            cond = condition(node, type_)
            if cond and cond.get("status") == "True":
                found.append(RULE.finding(
                    obj=ref(node, "Node"), message=f"node {name_of(node)} reports {type_}",
                    evidence=f"status.conditions[{type_}].status=True: {cond.get('message', '')}",
                    root_cause="the node has run out of headroom; the kubelet evicts pods and new ones fail",
                    fix="kubectl top nodes; kubectl top pods -A --sort-by=memory  # remove Istio if Kourier "
                    "is the ingress (`disableIstioVirtualHost: true`), or give the k3d node more memory",
                ))
    istio = [p for p in index.objects("Pod", "istio-system") if name_of(p).startswith("istiod")]
    if istio and index.objects("Pod", "kourier-system"):
        found.append(RULE.finding(
            obj=ref(istio[0], "Pod"), severity=Severity.WARNING,
            message="Istio runs next to Kourier: about 1 GB of memory for an unused ingress",
            evidence=f"pods istio-system/{name_of(istio[0])} and kourier-system/* are both present",
            root_cause="Istio's control plane was installed although Knative routes through Kourier",
            fix="kubectl delete namespace istio-system  # after setting disableIstioVirtualHost: true",
        ))
    for pod in index.objects("Pod"):
        for status in container_statuses(pod):
            last = (status.get("lastState") or {}).get("terminated") or {}
            if last.get("reason") == "OOMKilled":
                found.append(RULE.finding(
                    obj=ref(pod, "Pod"), severity=Severity.WARNING,
                    message=f"container {status.get('name')} was OOMKilled",
                    evidence=f"status.containerStatuses[{status.get('name')}].lastState.terminated.reason=OOMKilled"
                    f", restartCount={status.get('restartCount', 0)}",
                    root_cause="the container exceeded its memory limit or the node ran out of memory",
                    fix="raise resources.limits.memory in Git for this workload, or free node memory",
                ))
    return found


RULE = Rule(
    id="node-pressure", title="Node capacity", covers=("FM-10",),
    category=Category.ENVIRONMENT, severity=Severity.ERROR, check=check,
)
