"""FM-19: a LimitRange minimum above what Knative's queue-proxy requests (25m CPU).

Every revision pod is then refused at admission (`minimum cpu usage per
Container is 50m, but request is 25m`) and the endpoint never gets a pod.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, name_of, namespace_of
from neuroscale.doctor.k8s import creation_refusals, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity
from neuroscale.errors import InvalidInput
from neuroscale.spec.quantity import cpu_cores

QUEUE_PROXY_CPU = 0.025
MIN_CPU_MESSAGE = "minimum cpu usage per Container"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    serving_namespaces = {namespace_of(i) for i in index.objects("InferenceService")}
    denials = creation_refusals(index, MIN_CPU_MESSAGE)
    for lr in index.objects("LimitRange"):
        ns = namespace_of(lr)
        for limit in dig(lr, "spec", "limits") or []:
            raw = (limit.get("min") or {}).get("cpu")
            if limit.get("type") != "Container" or raw is None:
                continue
            try:
                minimum = cpu_cores(raw)
            except InvalidInput:
                continue
            if minimum <= QUEUE_PROXY_CPU or (ns not in serving_namespaces and ns not in denials):
                continue
            found.append(RULE.finding(
                obj=ref(lr, "LimitRange"),
                message=f"LimitRange {ns}/{name_of(lr)} min cpu {raw} rejects Knative revision pods",
                evidence=f"spec.limits[type=Container].min.cpu={raw} > queue-proxy request 25m"
                + (f"; {denials[ns]}" if ns in denials else ""),
                root_cause="Knative's queue-proxy sidecar requests 25m CPU, below the namespace minimum, so every "
                "revision pod is refused at admission",
                fix="# in the LimitRange (Git):\nspec:\n  limits:\n    - type: Container\n      min: {cpu: 10m}",
                explains_when=("RevisionFailed", "ProgressDeadlineExceeded", MIN_CPU_MESSAGE),
            ))
    return found


RULE = Rule(
    id="limitrange-min-cpu", title="LimitRange admits revision pods", covers=("FM-19",),
    category=Category.WORKLOADS, severity=Severity.ERROR, check=check,
)
