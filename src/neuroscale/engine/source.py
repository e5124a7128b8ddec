"""Source stage (Flux source-controller's job): main@sha → an artifact with revision and digest.

Polling `resolve("main")` is cheap; the files under `apps/` are read only when
the commit moves, and the later stages run only when the digest of those files
changes (a README edit on main restarts nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from neuroscale.spec.manifest import APPS_DIR

MAIN = "main"


class SourceRepo(Protocol):
    """The part of `neuroscale.gitops.repo.GitRepo` the engine reads."""

    def resolve(self, ref: str) -> str | None: ...

    def read_files(self, ref: str, prefix: str = "") -> dict[str, bytes]: ...


@dataclass(frozen=True)
class Artifact:
    commit: str
    digest: str
    files: Mapping[str, bytes]

    @property
    def revision(self) -> str:
        return f"{MAIN}@sha1:{self.commit}"


def artifact_digest(files: Mapping[str, bytes]) -> str:
    """sha256 over the sorted (path, content) pairs: equal trees, equal digests."""
    hasher = hashlib.sha256()
    for path in sorted(files):
        hasher.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return "sha256:" + hasher.hexdigest()


def fetch(repo: SourceRepo, commit: str) -> Artifact:
    files = repo.read_files(commit, APPS_DIR + "/")
    return Artifact(commit=commit, digest=artifact_digest(files), files=files)
