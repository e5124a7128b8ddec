"""NS-L001: `$patch: delete` documents that could be applied directly (FM-06).

A strategic-merge patch with `$patch: delete` is only safe as a build-time
Kustomize patch. Applied with `kubectl apply -f` or synced by an Application as
plain manifests it deletes the live object; deleting a CRD garbage-collects
every custom resource of that kind (the reference lost all InferenceServices).
"""

from __future__ import annotations

from typing import Any

from neuroscale.check.lints.argo import Source, synced_by
from neuroscale.check.applied import is_plain_directory, patch_files
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L001"


def _has_patch_delete(data: Any) -> bool:
    if isinstance(data, dict):
        return data.get("$patch") == "delete" or any(_has_patch_delete(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_patch_delete(v) for v in data)
    return False


def check(view: RepoView) -> list[Finding]:
    referenced = patch_files(view)
    findings = []
    for doc in view.documents:
        if b"$patch" not in view.files.get(doc.path, b"$patch") or not _has_patch_delete(doc.data):
            continue
        findings.extend(_judge(view, doc, referenced=doc.path in referenced))
    return findings


def _judge(view: RepoView, doc: Document, *, referenced: bool) -> list[Finding]:
    reasons = []
    if doc.kind == "CustomResourceDefinition":
        reasons.append(f"it deletes the CRD {doc.name}: every custom resource of that kind is garbage-collected")
    if not referenced:
        reasons.append("no kustomization lists it under `patches`, so it can only be applied directly")
    apps = [s.app.name for s in synced_by(view, doc.path) if _applied_plain(view, s, doc.path)]
    if apps:
        reasons.append(f"it sits in a directory Application {', '.join(sorted(set(apps)))} syncs as plain manifests")
    if not reasons:
        return []
    return [view.finding(doc, rule=ID, severity=Severity.ERROR, needle="$patch",
                         message="`$patch: delete` that could delete a live object: " + "; ".join(reasons),
                         fix="keep delete patches only inside a kustomization's `patches` and out of synced "
                             "directories; never delete a CRD this way (annotate CRDs with "
                             "argocd.argoproj.io/sync-options: Prune=false)")]


def _applied_plain(view: RepoView, source: Source, path: str) -> bool:
    """Whether the Application source would apply `path` itself, as a plain manifest."""
    directory = source.directory
    if not is_plain_directory(view, directory):
        return False
    rest = path[len(directory) + 1:] if directory not in ("", ".") else path
    return "/" not in rest or source.recurse


LINT = Lint(id=ID, title="`$patch: delete` outside a kustomization patch", failure_modes=("FM-06",),
            severity=Severity.ERROR, check=check)
