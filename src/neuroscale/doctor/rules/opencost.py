"""FM-39: OpenCost is installed but not serving, found by label rather than by a guessed name.

The reference's smoke test looked for a literal Deployment name and reported
false negatives when Helm naming differed; discovery goes by the Argo CD
instance label and sums availableReplicas.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, labels_of, name_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

INSTANCE = "app.kubernetes.io/instance"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    deployments = [d for d in index.objects("Deployment", "opencost") if labels_of(d).get(INSTANCE)]
    if not deployments:
        return []
    available = sum(int(dig(d, "status", "availableReplicas") or 0) for d in deployments)
    if available:
        return []
    names = ", ".join(f"{name_of(d)} ({INSTANCE}={labels_of(d).get(INSTANCE)})" for d in deployments)
    return [RULE.finding(
        obj=ref(deployments[0], "Deployment"), message="OpenCost is installed but has no available replica",
        evidence=f"Deployments in opencost found by label: {names}; sum(status.availableReplicas)=0",
        root_cause="the OpenCost pods are not Ready, so cost showback has no data",
        fix="kubectl -n opencost get pods -l " + INSTANCE + "; kubectl -n opencost describe pod <pod>",
    )]


RULE = Rule(
    id="opencost-available", title="Cost data collected", covers=("FM-39",),
    category=Category.COST, severity=Severity.WARNING, check=check,
)
