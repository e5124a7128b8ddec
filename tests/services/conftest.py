"""An opened platform home per test (real bare repo, real SQLite) and helpers to snapshot its state."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neuroscale.gitops.repo import Author
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.services.identity import Actor, Role
from neuroscale.spec.endpoint import EndpointSpec

#: Who the use cases act as (the only user of a fresh home is its admin, so no approvals are needed).
ALICE = Actor("alice", Role.admin, "alice@example.com")
#: A git author for commits made straight on the repository.
GIT_AUTHOR = Author("Alice", "alice@example.com")
BASE_INPUT: dict[str, Any] = {"name": "demo-iris", "owner": "team-ml", "costCenter": "cc-1234",
                              "storageUri": "file:///models/iris/model.joblib"}


def make_spec(**overrides: Any) -> EndpointSpec:
    return EndpointSpec.from_input({**BASE_INPUT, **overrides})


def snapshot(ctx: PlatformContext) -> tuple[list[str], int, str | None]:
    """Branches, pull-request rows and main: what bad input must leave untouched."""
    count = ctx.db.execute("SELECT count(*) FROM pull_requests").fetchone()[0]
    return ctx.repo.branches(), int(count), ctx.repo.resolve("main")


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", "-c", "user.name=Bob", "-c", "user.email=bob@example.com", *args], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def push_to_main(ctx: PlatformContext, files: dict[str, str], *, work: Path, message: str = "direct") -> str:
    """Clone the bare repo, commit `files` and push straight to main with plain git."""
    if not work.exists():
        git("clone", "--quiet", str(ctx.repo.path), str(work), cwd=work.parent)
    git("pull", "--quiet", "origin", "main", cwd=work)
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def ctx(home: Home) -> Iterator[PlatformContext]:
    with PlatformContext.open(home, create=True) as opened:
        yield opened
