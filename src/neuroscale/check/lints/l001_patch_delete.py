"""NS-L001: `$patch: delete` documents that could be applied directly (FM-06).

A strategic-merge patch with `$patch: delete` is only safe as a build-time
Kustomize patch. Applied with `kubectl apply -f` or synced by an Application as
plain manifests it deletes the live object; deleting a CRD garbage-collects
every custom resource of that kind (the reference lost all InferenceServices).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from neuroscale.check.lints.argo import synced_by
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L001"
_PATCH_KEYS = ("patches", "patchesStrategicMerge", "patchesJson6902")


def _has_patch_delete(data: Any) -> bool:
    if isinstance(data, dict):
        return data.get("$patch") == "delete" or any(_has_patch_delete(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_patch_delete(v) for v in data)
    return False


def _referenced_patches(view: RepoView) -> set[str]:
    """Repository paths listed in any kustomization's patch fields."""
    found: set[str] = set()
    for doc in view.documents:
        if PurePosixPath(doc.path).name not in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
            continue
        base = PurePosixPath(doc.path).parent
        for key in _PATCH_KEYS:
            entries = doc.data.get(key) if isinstance(doc.data, dict) else None
            for entry in entries if isinstance(entries, list) else []:
                target = entry.get("path") if isinstance(entry, dict) else entry
                if isinstance(target, str):
                    found.add(_normalise(base / target))
    return found


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts = parts[:-1]
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def check(view: RepoView) -> list[Finding]:
    referenced = _referenced_patches(view)
    findings = []
    for doc in view.documents:
        if not _has_patch_delete(doc.data):
            continue
        findings.extend(_judge(view, doc, referenced=doc.path in referenced))
    return findings


def _judge(view: RepoView, doc: Document, *, referenced: bool) -> list[Finding]:
    reasons = []
    if doc.kind == "CustomResourceDefinition":
        reasons.append(f"it deletes the CRD {doc.name}: every custom resource of that kind is garbage-collected")
    if not referenced:
        reasons.append("no kustomization lists it under `patches`, so it can only be applied directly")
    apps = [s.app.name for s in synced_by(view, doc.path)]
    if apps:
        reasons.append(f"it sits in a directory Application {', '.join(sorted(set(apps)))} syncs as plain manifests")
    if not reasons:
        return []
    return [view.finding(doc, rule=ID, severity=Severity.ERROR, needle="$patch",
                         message="`$patch: delete` that could delete a live object: " + "; ".join(reasons),
                         fix="keep delete patches only inside a kustomization's `patches` and out of synced "
                             "directories; never delete a CRD this way (annotate CRDs with "
                             "argocd.argoproj.io/sync-options: Prune=false)")]


LINT = Lint(id=ID, title="`$patch: delete` outside a kustomization patch", failure_modes=("FM-06",),
            severity=Severity.ERROR, check=check)
