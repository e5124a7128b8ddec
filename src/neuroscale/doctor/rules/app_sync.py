"""The Application-level symptom: Unknown, SyncError, Degraded or Missing.

Most Application failures are effects of something earlier in triage order
(repo-server down, webhook without endpoints, CRD deleted). This rule reports
the symptom with its exact message; correlation then attaches it to the cause.
Messages that have a dedicated rule (CRD annotation too long, policy denial)
are left to that rule.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, name_of
from neuroscale.doctor.k8s import app_messages, app_status, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.doctor.rules.app_crd_too_long import TOO_LONG
from neuroscale.doctor.rules.app_policy_denied import POLICY_DENIED
from neuroscale.findings import Severity

_BAD_HEALTH = ("Degraded", "Missing", "Unknown")


def _root_cause(messages: list[str], sync: str) -> str:
    text = " ".join(messages)
    if "failed calling webhook" in text or "no endpoints available" in text:
        return "an admission webhook refused or could not answer the apply (see the webhook findings)"
    if sync == "Unknown":
        return "Argo CD could not compare the Application with Git (the comparison engine is not running)"
    return "the last sync did not apply every object"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for app in index.objects("Application"):
        sync = str(dig(app, "status", "sync", "status") or "")
        health = str(dig(app, "status", "health", "status") or "")
        errors = [c for c in dig(app, "status", "conditions") or [] if str(c.get("type", "")).endswith("Error")]
        if sync != "Unknown" and health not in _BAD_HEALTH and not errors:
            continue
        messages = app_messages(app)
        if any(pattern in m for m in messages for pattern in (TOO_LONG, *POLICY_DENIED)):
            continue
        first = messages[0] if messages else ""
        found.append(RULE.finding(
            obj=ref(app, "Application"),
            message=f"Application {name_of(app)} is {sync or '?'}/{health or '?'}",
            evidence=app_status(app) + (f"; message: {first}" if first else ""),
            root_cause=_root_cause(messages, sync),
            fix=f"kubectl -n argocd describe application {name_of(app)}  # after fixing the cause:\n"
            f"kubectl -n argocd patch application {name_of(app)} --type merge "
            "-p '{\"metadata\":{\"annotations\":{\"argocd.argoproj.io/refresh\":\"hard\"}}}'",
        ))
    return found


RULE = Rule(
    id="app-sync", title="Applications synced and healthy", covers=(),
    category=Category.APPLICATION_SYNC, severity=Severity.ERROR, check=check,
)
