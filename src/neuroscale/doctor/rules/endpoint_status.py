"""Embedded FM-23 / FM-03 analogues: what is on `main` but not deployed, and what serves meanwhile.

The reconciler runs the same admission as `neuroscale check`; a manifest that
was merged anyway (plain git push) is refused at deploy time and the last good
revision keeps serving, as Argo CD keeps the old state when a sync fails. The
finding says exactly that ("denied — serving last good revision <rev>"), quotes
the denial, and gives the command that fixes it: `endpoint update` starts from
the manifest on main even when it fails policies, so the flag for the field the
denial names is all it takes.
"""

from __future__ import annotations

import re

from neuroscale.doctor.embedded_view import condition_of, endpoint_ref, serving_revision
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity
from neuroscale.spec.fields import FIELDS_BY_KEY, LABEL_COST_CENTER, LABEL_OWNER
from neuroscale.status.reasons import Reason

#: Labels a policy may require, and the endpoint field (so the CLI flag) that sets each.
_LABEL_FIELDS = {LABEL_OWNER: FIELDS_BY_KEY["owner"], LABEL_COST_CENTER: FIELDS_BY_KEY["costCenter"]}
_STATES = {
    Reason.AdmissionDenied: ("the manifest on main is denied", "it violates a guardrail policy, so the reconciler "
                             "refuses to deploy it"),
    Reason.InvalidManifest: ("the manifest on main is not a valid InferenceService", "the file on main cannot be read "
                             "as an endpoint, so the reconciler cannot deploy it"),
    Reason.SourceUnavailable: ("main cannot be read", "the reconciler cannot read main from the GitOps remote, so "
                               "nothing merged is deployed"),
}


def _fix(name: str, reason: str, message: str) -> str:
    if reason == Reason.SourceUnavailable:
        return "restore the GitOps remote (see the git-remote finding); the reconciler picks main up again by itself"
    flags = [f"{field.cli_flag} <{field.key}>" for label, field in _LABEL_FIELDS.items()
             if re.search(rf"labels[.\[/']*{re.escape(label)}\b|label '{re.escape(label)}'", message)]
    if reason == Reason.AdmissionDenied and flags:
        return (f"neuroscale endpoint update {name} {' '.join(flags)}   # or the Edit form; then merge the pull "
                "request (pull requests run the same policies before merge, a plain push does not)")
    return (f"fix apps/{name}/inference-service.yaml as the message says: `neuroscale endpoint update {name} "
            "--<field> <value>` or `--from-file fixed.yaml`, or revert the commit that broke it (`git revert`); "
            "merge through pull requests so `neuroscale check` runs first")


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for endpoint in index.objects("Endpoint"):
        ready = condition_of(endpoint, "Ready")
        if ready is None or ready.get("status") == "True" or ready.get("reason") not in _STATES:
            continue
        reason, message = str(ready["reason"]), str(ready.get("message", ""))
        name = str(endpoint.get("name", ""))
        state, cause = _STATES[Reason(reason)]
        serving = serving_revision(endpoint)
        meanwhile = f"serving last good revision {serving}" if serving else "nothing serves it"
        found.append(RULE.finding(
            obj=endpoint_ref(endpoint), message=f"{name}: {state} — {meanwhile}",
            severity=Severity.ERROR,
            evidence=f"endpoint status sync={endpoint.get('sync')} health={endpoint.get('health')} "
            f"main@{str(endpoint.get('observed_commit', ''))[:12]}; conditions[Ready] {reason}: {message}",
            root_cause=cause + (f"; the previous revision {serving} keeps serving" if serving else ""),
            fix=_fix(name, reason, message),
        ))
    return found


RULE = Rule(
    id="endpoint-not-deployed", title="What is on main is deployed", covers=("FM-23",),
    category=Category.APPLICATION_SYNC, severity=Severity.ERROR, check=check, targets=("embedded",),
)
