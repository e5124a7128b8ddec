"""FM-23 / FM-24: admission policies deny what Git asks for.

FM-23: the manifest uses a near-miss label key (`costCenter`) for the one the
policy requires (`cost-center`), so a merged endpoint is denied at sync time.
FM-24: a Deployment policy without a Knative exclusion denies the revision
Deployments Knative generates, so the InferenceService never becomes Ready.
"""

from __future__ import annotations

import re

from neuroscale.doctor.index import Obj, SnapshotIndex, dig, labels_of, name_of
from neuroscale.doctor.k8s import app_messages, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_OWNER

POLICY_DENIED = ("blocked due to the following policies", "denied the request: resource")
_POLICY = re.compile(r"following policies\s+([\w.-]+)")


def _squash(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


def _near_misses(index: SnapshotIndex, app: Obj) -> list[str]:
    """Label keys on the Application's live resources that only differ from a required key in spelling."""
    required = {_squash(k): k for k in (LABEL_OWNER, LABEL_COST_CENTER)}
    misses = []
    for res in dig(app, "status", "resources") or []:
        live = index.get(str(res.get("kind", "")), str(res.get("namespace", "")), str(res.get("name", "")))
        for key in labels_of(live or {}):
            want = required.get(_squash(key))
            if want and key != want:
                misses.append(f"{res.get('kind')}/{res.get('name')} has label {key!r}, policy requires {want!r}")
    return misses


def _knative_denials(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for revision in index.objects("Revision"):
        messages = [str(c.get("message", "")) for c in dig(revision, "status", "conditions") or []]
        messages += [str(e.get("message", "")) for e in index.events_for(
            "Revision", str(revision["metadata"].get("namespace", "")), name_of(revision))]
        denial = next((m for m in messages if any(p in m for p in POLICY_DENIED) or "kyverno" in m.lower()), "")
        if denial:
            policy = _POLICY.search(denial)
            found.append(RULE.finding(
                obj=ref(revision, "Revision"), category=Category.WORKLOADS, covers=("FM-24",),
                message=f"Knative revision {name_of(revision)} is denied by a Deployment policy",
                evidence=denial,
                root_cause="a policy that matches Deployments also matches the revision Deployments Knative "
                "generates, and it has no exclusion for them",
                fix=f"# in policy {policy.group(1) if policy else '<policy>'} (Git), exclude generated revisions:\n"
                "exclude:\n  any:\n    - resources:\n        selector:\n          matchExpressions:\n"
                "            - {key: serving.knative.dev/configuration, operator: Exists}",
                explains_when=(name_of(revision),),
            ))
    return found


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = _knative_denials(index)
    for app in index.objects("Application"):
        denial = next((m for m in app_messages(app) if any(p in m for p in POLICY_DENIED)), "")
        if not denial:
            continue
        misses = _near_misses(index, app)
        policy = _POLICY.search(denial)
        found.append(RULE.finding(
            obj=ref(app, "Application"), covers=("FM-23",),
            message=f"Application {name_of(app)} is denied by policy {policy.group(1) if policy else ''}".rstrip(),
            evidence=denial + ("; " + "; ".join(misses) if misses else ""),
            root_cause=("the manifest spells a required label key differently from the policy "
                        "(label keys are exact-match)" if misses else
                        "the manifest in Git violates an admission policy, so the sync is refused after merge"),
            fix=(f"rename the label to `{LABEL_COST_CENTER}` in the manifest (and in the template that "
                 "generated it), commit and push; run `neuroscale check` in CI so this fails before merge"
                 if misses else "fix the manifest in Git as the message says; run `neuroscale check` before merge"),
        ))
    return found


RULE = Rule(
    id="policy-denied", title="Policies admit what Git declares", covers=("FM-23", "FM-24"),
    category=Category.APPLICATION_SYNC, severity=Severity.ERROR, check=check,
)
