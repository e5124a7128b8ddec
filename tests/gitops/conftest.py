"""A real bare repository per test, plus a helper to drive plain `git` as a user would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from neuroscale.gitops.repo import Author, GitRepo

ALICE = Author("Alice", "alice@example.com")
SEED = {"apps/.gitkeep": b"", "README.md": b"# repo\n"}


def git(*args: str, cwd: Path) -> str:
    """Plain git with a fixed identity, never the machine's global config."""
    done = subprocess.run(["git", "-c", "user.name=Bob", "-c", "user.email=bob@example.com", *args], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.init_bare(tmp_path / "gitops.git", files=SEED, author=ALICE, message="init")
