"""NS-L012: CRDs too large for client-side apply, synced without server-side apply (FM-04).

Client-side apply stores the whole object in the
`kubectl.kubernetes.io/last-applied-configuration` annotation, capped at
256 KiB. A larger CRD (Knative's is ~400 KB) fails to sync with
"Too long: may not be more than 262144 bytes" unless Argo CD applies it
server-side (`ServerSideApply=true` on the Application, the object, or a
kustomization's commonAnnotations).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import orjson

from neuroscale.check.lints.argo import SYNC_OPTIONS_ANNOTATION, SyncIndex, has_server_side_apply
from neuroscale.check.lints.base import Lint, dig
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L012"
ANNOTATION_LIMIT = 262_144


def applied_size(data: object) -> int:
    """Bytes of the last-applied-configuration annotation kubectl would write (compact JSON, non-ASCII
    unescaped as Go's encoder writes it)."""
    return len(orjson.dumps(data, default=str))


def _kustomize_ssa(view: RepoView, path: str) -> bool:
    parents = PurePosixPath(path).parents
    for doc in view.documents:
        if "kustomization.yaml" not in doc.path:
            continue  # no path object for each of a 10,000-object repository's documents per large CRD
        if PurePosixPath(doc.path).name != "kustomization.yaml" or PurePosixPath(doc.path).parent not in parents:
            continue
        value = str(dig(doc.data, "commonAnnotations", SYNC_OPTIONS_ANNOTATION) or "")
        if "ServerSideApply=true" in value.replace(" ", ""):
            return True
    return False


def check(view: RepoView) -> list[Finding]:
    findings = []
    synced = SyncIndex(view)
    for doc in view.of_kind("CustomResourceDefinition"):
        size = applied_size(doc.data)
        if size <= ANNOTATION_LIMIT or _kustomize_ssa(view, doc.path):
            continue
        for source in synced.of(doc.path):
            if not has_server_side_apply(source.app, doc):
                findings.append(view.finding(
                    doc, rule=ID, severity=Severity.ERROR,
                    message=f"CRD {doc.name} is {size:,} bytes, above the {ANNOTATION_LIMIT:,}-byte annotation "
                            f"limit of client-side apply, and Application {source.app.name} syncs it without "
                            "ServerSideApply=true: the sync will fail",
                    fix=f"add ServerSideApply=true to {source.app.name}'s spec.syncPolicy.syncOptions "
                        "(or annotate the CRD argocd.argoproj.io/sync-options: ServerSideApply=true)"))
    return findings


LINT = Lint(id=ID, title="Oversized CRD synced without server-side apply", failure_modes=("FM-04",),
            severity=Severity.ERROR, check=check)
