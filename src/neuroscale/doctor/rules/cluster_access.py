"""FM-14: the cluster cannot be read at all, or only partly (RBAC).

Everything else is meaningless if the API is unreachable, so this is the
first finding in triage order, with the commands that bring the cluster back.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

_FIXES = {
    "KubeconfigMissing": "point --kubeconfig at an existing file (k3d: `k3d kubeconfig write neuroscale`)",
    "ContextNotFound": "kubectl config get-contexts; kubectl config use-context k3d-neuroscale",
    "KubeconfigInvalid": "kubectl config view  # fix the file, or pass --kubeconfig/--context explicitly",
    "Unreachable": "docker info  # start Docker first; then: k3d cluster start neuroscale && "
    "kubectl config use-context k3d-neuroscale && kubectl cluster-info",
}


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    error = index.meta.get("error")
    context = str(index.meta.get("context", "")) or "<current>"
    if isinstance(error, dict):
        reason = str(error.get("reason", "Unreachable"))
        found.append(RULE.finding(
            obj=ObjectRef(kind="Cluster", name=context),
            message=f"cannot read the cluster ({reason})",
            evidence=str(error.get("message", "")),
            root_cause="the Kubernetes API of the selected context cannot be reached, so nothing else can be diagnosed",
            fix=_FIXES.get(reason, _FIXES["Unreachable"]),
        ))
    for kind, why in (index.meta.get("errors") or {}).items():
        found.append(RULE.finding(
            obj=ObjectRef(kind="Cluster", name=context), severity=Severity.WARNING,
            message=f"could not list {kind}: rules that need it were skipped",
            evidence=str(why),
            root_cause="the credentials of this context may not read every kind doctor needs",
            fix="kubectl auth can-i list " + kind.lower() + " --all-namespaces",
        ))
    return found


RULE = Rule(
    id="cluster-access", title="Cluster reachable", covers=("FM-14",),
    category=Category.ENVIRONMENT, severity=Severity.ERROR, check=check,
)
