"""Embedded FM-23 / FM-06 analogues: what reached `main` but was not deployed, and why.

The reconciler runs the same admission as `neuroscale check`; a manifest that
was merged anyway (plain git push) is refused at deploy time, and an endpoint
whose manifest cannot be read stays on its old revision. The endpoint's Ready
condition carries the reason and message; model-server crashes have their own rule.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

_CAUSES = {
    "AdmissionDenied": ("the manifest on main violates a guardrail policy, so the reconciler refuses to deploy it",
                        "fix the manifest as the message says (`neuroscale endpoint update`), and merge only "
                        "through pull requests so `neuroscale check` runs first"),
    "InvalidManifest": ("the file on main is not a valid InferenceService",
                        "run `neuroscale check` on the repository and fix the reported file"),
    "SourceUnavailable": ("the reconciler cannot read main from the GitOps remote",
                          "git --git-dir <home>/gitops.git log -1 main  # see the git-remote finding"),
}


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for endpoint in index.objects("Endpoint"):
        ready = next((c for c in endpoint.get("conditions") or [] if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") == "True" or ready.get("reason") not in _CAUSES:
            continue
        cause, fix = _CAUSES[str(ready["reason"])]
        name = str(endpoint.get("name", ""))
        found.append(RULE.finding(
            obj=ObjectRef(kind="Endpoint", name=name, namespace=str(endpoint.get("namespace", ""))),
            message=f"endpoint {name} is not deployed: {ready.get('reason')}",
            evidence=f"endpoint status sync={endpoint.get('sync')} health={endpoint.get('health')}; "
            f"conditions[Ready] {ready.get('reason')}: {ready.get('message', '')}",
            root_cause=cause, fix=fix,
        ))
    return found


RULE = Rule(
    id="endpoint-not-deployed", title="What is on main is deployed", covers=("FM-23",),
    category=Category.APPLICATION_SYNC, severity=Severity.ERROR, check=check, targets=("embedded",),
)
