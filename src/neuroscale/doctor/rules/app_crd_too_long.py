"""FM-04: a large CRD fails client-side apply (`metadata.annotations: Too long`).

Client-side apply stores the whole object in the last-applied annotation; the
Knative Service CRD (~400 KB) exceeds the 256 KiB limit. Server-side apply
does not write that annotation.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, name_of
from neuroscale.doctor.k8s import app_messages, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

TOO_LONG = "Too long: may not be more than 262144 bytes"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for app in index.objects("Application"):
        message = next((m for m in app_messages(app) if TOO_LONG in m), "")
        if message:
            found.append(RULE.finding(
                obj=ref(app, "Application"),
                message=f"Application {name_of(app)} cannot apply a CRD: annotation too long",
                evidence=message,
                root_cause="client-side apply writes the whole CRD into kubectl.kubernetes.io/last-applied-"
                "configuration, which exceeds the 262144-byte annotation limit",
                fix="# in the Application (Git):\nspec:\n  syncPolicy:\n    syncOptions:\n"
                "      - ServerSideApply=true\n# and render each CRD once (remove duplicate CRD sources)",
            ))
    return found


RULE = Rule(
    id="crd-annotation-too-long", title="CRDs applied server-side", covers=("FM-04",),
    category=Category.APPLICATION_SYNC, severity=Severity.ERROR, check=check,
)
