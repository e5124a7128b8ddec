"""FM-09 (quota side): a namespace ResourceQuota is used up, so new pods or objects are refused.

Controllers report it only as `FailedCreate ... exceeded quota` events on the
ReplicaSet (or the Revision), far from the Application that looks "Progressing".
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, name_of, namespace_of
from neuroscale.doctor.k8s import creation_refusals, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.errors import InvalidInput
from neuroscale.findings import Severity
from neuroscale.spec.quantity import parse_quantity

EXCEEDED = "exceeded quota"


def _full(hard: dict[str, str], used: dict[str, str]) -> list[str]:
    full = []
    for resource, limit in hard.items():
        try:
            if resource in used and parse_quantity(used[resource]) >= parse_quantity(limit):
                full.append(f"{resource} {used[resource]}/{limit}")
        except InvalidInput:
            continue
    return full


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    refused = creation_refusals(index, EXCEEDED)
    found = []
    for quota in index.objects("ResourceQuota"):
        ns = namespace_of(quota)
        full = _full(dict(dig(quota, "status", "hard") or {}), dict(dig(quota, "status", "used") or {}))
        if not full:
            continue
        found.append(RULE.finding(
            obj=ref(quota, "ResourceQuota"),
            severity=Severity.ERROR if ns in refused else Severity.WARNING,
            message=f"ResourceQuota {ns}/{name_of(quota)} is used up: {', '.join(full)}",
            evidence=f"status.used >= status.hard for {', '.join(full)}"
            + (f"; {refused[ns]}" if ns in refused else ""),
            root_cause="the namespace has no quota left, so the API server refuses new pods or objects counted by it",
            fix=f"kubectl -n {ns} describe resourcequota {name_of(quota)}  # free capacity (delete unused endpoints) "
            "or raise spec.hard in Git",
            explains_when=(EXCEEDED, f"quota: {name_of(quota)}"),
        ))
    return found


RULE = Rule(
    id="quota-exhausted", title="Namespace quota not exhausted", covers=("FM-09",),
    category=Category.WORKLOADS, severity=Severity.ERROR, check=check,
)
