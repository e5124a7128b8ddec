"""FM-40: workloads without `owner` and `cost-center` show up as unallocated cost.

OpenCost attributes spend by these labels; generated objects (with owner
references) inherit them, so only top-level workloads are checked.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, labels_of, name_of, namespace_of
from neuroscale.doctor.k8s import PLATFORM_NAMESPACES, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_OWNER

REQUIRED = (LABEL_OWNER, LABEL_COST_CENTER)


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for kind in ("InferenceService", "Deployment", "StatefulSet"):
        for obj in index.objects(kind):
            if namespace_of(obj) in PLATFORM_NAMESPACES or namespace_of(obj) == "backstage":
                continue
            if dig(obj, "metadata", "ownerReferences"):
                continue
            missing = [k for k in REQUIRED if not labels_of(obj).get(k)]
            if missing:
                found.append(RULE.finding(
                    obj=ref(obj, kind), message=f"{kind} {namespace_of(obj)}/{name_of(obj)} has no "
                    + " or ".join(missing) + " label: its cost is unallocated",
                    evidence=f"metadata.labels={dict(labels_of(obj))}",
                    root_cause="cost showback groups spend by owner and cost-center labels; this workload has none",
                    fix="add metadata.labels: {owner: <team>, cost-center: <code>} in Git; the bundled policies "
                    "enforce them at admission",
                ))
    return found


RULE = Rule(
    id="cost-labels", title="Workloads attributable to a team", covers=("FM-40",),
    category=Category.COST, severity=Severity.WARNING, check=check,
)
