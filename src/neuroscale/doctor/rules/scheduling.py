"""FM-09: pods Pending on `Insufficient cpu/memory` (a single small node).

The demo "looked failed" while the pod waited for CPU. The scheduler says so
in a FailedScheduling event; this names the pod and what it asked for.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, name_of, namespace_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for pod in index.objects("Pod"):
        if dig(pod, "status", "phase") != "Pending":
            continue
        events = [e for e in index.events_for("Pod", namespace_of(pod), name_of(pod))
                  if e.get("reason") == "FailedScheduling" and "Insufficient" in str(e.get("message", ""))]
        if not events:
            continue
        requests = [f"{c.get('name')}: {(c.get('resources') or {}).get('requests', {})}"
                    for c in dig(pod, "spec", "containers") or []]
        found.append(RULE.finding(
            obj=ref(pod, "Pod"), message=f"pod {namespace_of(pod)}/{name_of(pod)} cannot be scheduled",
            evidence=f"event FailedScheduling: {events[-1].get('message', '')}; requests {'; '.join(requests)}",
            root_cause="no node has enough unreserved CPU or memory for the pod's requests",
            fix="kubectl describe nodes | grep -A8 'Allocated resources'  # lower the requests in Git "
            "(e.g. cpu: 50m, memory: 64Mi) or add node capacity",
            explains_when=(name_of(pod),),
        ))
    return found


RULE = Rule(
    id="insufficient-resources", title="Pods schedulable", covers=("FM-09",),
    category=Category.WORKLOADS, severity=Severity.ERROR, check=check,
)
