"""FM-02: a fix applied with kubectl to a GitOps-managed object, never committed.

Self-heal (or the next restart) reverts it and the original failure returns.
The evidence is in `metadata.managedFields`: a `kubectl-patch`/`kubectl-edit`
manager on an object Argo CD tracks.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, annotations_of, labels_of, meta
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

MANUAL_MANAGERS = frozenset({"kubectl-patch", "kubectl-edit", "kubectl-set", "kubectl-scale"})
_SKIPPED_KINDS = frozenset({"Event", "Pod", "EndpointSlice", "ReplicaSet", "Secret"})


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for kind, obj in index.every():
        if kind in _SKIPPED_KINDS:
            continue
        tracked = annotations_of(obj).get("argocd.argoproj.io/tracking-id") or labels_of(obj).get(
            "app.kubernetes.io/instance")
        manual = [f for f in meta(obj).get("managedFields") or [] if f.get("manager") in MANUAL_MANAGERS]
        if not tracked or not manual:
            continue
        last = manual[-1]
        found.append(RULE.finding(
            obj=ref(obj, str(obj.get("kind", kind))),
            message=f"{kind} {ref(obj)} was changed with {last.get('manager')} outside Git",
            evidence=f"metadata.managedFields[manager={last.get('manager')}, operation={last.get('operation')}, "
            f"time={last.get('time')}]; tracked by Argo CD app {str(tracked).split(':')[0]}",
            root_cause="an out-of-band kubectl change on a GitOps-managed object is temporary: self-heal or "
            "the next sync restores what Git says",
            fix="put the same change in Git (a kustomize patch next to the manifest), commit and push; then "
            "`git log` shows it and Argo CD keeps it",
        ))
    return found


RULE = Rule(
    id="out-of-band-edit", title="Fixes live in Git", covers=("FM-02",),
    category=Category.APPLICATION_SYNC, severity=Severity.WARNING, check=check,
)
