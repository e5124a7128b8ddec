"""Write the generated repository without clobbering what users changed.

`init` records the SHA-256 of every file it wrote in
`.neuroscale/init-manifest.json`. On a re-run a file is rewritten only if it
still has the content `init` last wrote; a file the user edited, or one that
existed before `init` ever wrote it, is kept and reported. Files `init` no
longer generates (say after switching policy engine) are removed only if
untouched. `plan` is pure, so `--dry-run` shows exactly what `apply` would do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from neuroscale.atomic_file import replace_file
from neuroscale.errors import InvalidInput

MANIFEST = ".neuroscale/init-manifest.json"
Action = Literal["create", "update", "delete", "unchanged", "keep"]


@dataclass(frozen=True)
class Change:
    path: str
    action: Action
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "action": self.action, "reason": self.reason}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput("the init ownership manifest is unreadable", where=str(path),
                           fix=f"restore {MANIFEST} from git, or delete it to treat every existing file as yours") from None


def plan(root: Path, files: dict[str, str]) -> list[Change]:
    owned = read_manifest(root)
    changes = []
    for rel, text in files.items():
        target = root / rel
        if not target.exists():
            changes.append(Change(rel, "create"))
            continue
        current = target.read_bytes()
        if current == text.encode():
            changes.append(Change(rel, "unchanged"))
        elif rel not in owned:
            changes.append(Change(rel, "keep", "file exists and was not written by init"))
        elif owned[rel] != _sha(current):
            changes.append(Change(rel, "keep", "edited since init wrote it"))
        else:
            changes.append(Change(rel, "update"))
    for rel, digest in sorted(owned.items()):
        if rel in files:
            continue
        target = root / rel
        if not target.exists():
            continue
        if _sha(target.read_bytes()) == digest:
            changes.append(Change(rel, "delete", "no longer generated"))
        else:
            changes.append(Change(rel, "keep", "no longer generated, but edited since init wrote it"))
    return changes


def apply(root: Path, files: dict[str, str], changes: list[Change]) -> None:
    """Carry out `changes` and record ownership of what init now owns."""
    owned = read_manifest(root)
    for change in changes:
        target = root / change.path
        if change.action in ("create", "update"):
            replace_file(target, files[change.path])
            owned[change.path] = _sha(files[change.path].encode())
        elif change.action == "unchanged":
            owned[change.path] = _sha(files[change.path].encode())
        elif change.action == "delete":
            target.unlink()
            owned.pop(change.path, None)
    manifest = root / MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"version": 1, "files": dict(sorted(owned.items()))}, indent=2) + "\n",
                        encoding="utf-8")
