"""Which documents reach the API server, as far as the checks need to know.

Patch files listed in a kustomization are partial objects merged at build
time; Kustomizations and Backstage catalog entities look like objects but are
read by other tools. Schema validation and policies skip them (the lints still
read them). Argo CD applies a directory as plain manifests only when it holds
no kustomization or chart.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from neuroscale.check.model import Document, RepoView

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: API groups of documents other tools read (kustomize, Backstage's catalog); never sent to the API server.
NOT_APPLIED_GROUPS = frozenset({"kustomize.config.k8s.io", "config.kubernetes.io", "backstage.io",
                                "scaffolder.backstage.io"})
PATCH_KEYS = ("patches", "patchesStrategicMerge", "patchesJson6902")


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts = parts[:-1]
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def not_applied(view: RepoView) -> set[str]:
    """Files whose objects never reach the API server alone: patches, kustomize configuration, catalog entities."""
    others = {doc.path for doc in view.objects() if doc.group in NOT_APPLIED_GROUPS}
    return patch_files(view) | others


def applied_objects(view: RepoView) -> list[Document]:
    """Objects that reach the API server as written (what cost and the rendered diff count)."""
    skipped = not_applied(view)
    return [doc for doc in view.objects() if doc.path not in skipped]


def patch_files(view: RepoView) -> set[str]:
    """Repository paths listed in any kustomization's patch fields."""
    found: set[str] = set()
    for doc in view.documents:
        if PurePosixPath(doc.path).name not in KUSTOMIZATION_NAMES or not isinstance(doc.data, dict):
            continue
        base = PurePosixPath(doc.path).parent
        for key in PATCH_KEYS:
            entries = doc.data.get(key)
            for entry in entries if isinstance(entries, list) else []:
                target = entry.get("path") if isinstance(entry, dict) else entry
                if isinstance(target, str):
                    found.add(_normalise(base / target))
    return found


def is_plain_directory(view: RepoView, directory: str) -> bool:
    """True when Argo CD would apply `directory` as plain manifests (no kustomization, no chart)."""
    prefix = f"{directory.strip('/')}/" if directory.strip("/.") else ""
    markers = (*KUSTOMIZATION_NAMES, "Chart.yaml")
    return not any(f"{prefix}{name}" in view.files for name in markers)
