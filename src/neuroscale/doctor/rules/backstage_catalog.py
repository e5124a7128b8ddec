"""FM-25 / FM-26: the golden-path template is refused by the catalog.

The UI shows an empty /create page with no error; the backend log says
`NotAllowedError: ... entity of kind Template is not allowed from that location`.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    for key, text in index.logs_matching("backstage/"):
        line = next((line for line in text.splitlines() if "NotAllowedError" in line), "")
        if line:
            namespace, pod, _ = key.split("/", 2)
            return [RULE.finding(
                obj=ObjectRef(kind="Pod", name=pod, namespace=namespace),
                message="the catalog refuses the golden-path Template",
                evidence=line.strip(),
                root_cause="the catalog location has no `rules: [{allow: [Template]}]` (or it is mis-indented and "
                "no longer part of the location item), so Template entities are rejected",
                fix="# values.yaml (Git), the same list item as `target`:\ncatalog:\n  locations:\n"
                "    - type: url\n      target: https://.../template.yaml\n      rules:\n        - allow: [Template]\n"
                "# then: kubectl -n backstage rollout restart deploy/neuroscale-backstage",
            )]
    return []


RULE = Rule(
    id="backstage-template-refused", title="Golden-path template in the catalog", covers=("FM-25", "FM-26"),
    category=Category.PORTAL, severity=Severity.ERROR, check=check,
)
