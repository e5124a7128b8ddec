"""What Kustomize does with files, as far as the checks need to know.

Patch files listed in a kustomization are partial objects: they are merged at
build time, never applied on their own, so schema validation and policies
skip them (the lints still read them). Argo CD applies a directory as plain
manifests only when it holds no kustomization or chart.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from neuroscale.check.model import RepoView

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PATCH_KEYS = ("patches", "patchesStrategicMerge", "patchesJson6902")


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts = parts[:-1]
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


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
