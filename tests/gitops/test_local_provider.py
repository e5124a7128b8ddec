"""LocalProvider over real git and real SQLite, including the compensation when a database step fails."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuroscale.db import connect
from neuroscale.errors import Conflict, NotFound
from neuroscale.gitops.local_provider import LocalProvider
from neuroscale.gitops.provider import CheckResult, Proposal
from neuroscale.gitops.repo import MAIN, GitRepo

from .conftest import ALICE


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(tmp_path / "state.db")
    LocalProvider.ensure_schema(conn)
    LocalProvider.ensure_schema(conn)  # idempotent
    yield conn
    conn.close()


@pytest.fixture
def provider(repo: GitRepo, db: sqlite3.Connection) -> LocalProvider:
    return LocalProvider(repo, db)


def proposal(name: str, content: bytes | None = b"spec\n", action: str = "create") -> Proposal:
    return Proposal(endpoint=name, action=action, title=f"{action} {name}",  # type: ignore[arg-type]
                    files={f"apps/{name}/inference-service.yaml": content}, author=ALICE)


def rows(db: sqlite3.Connection) -> list[tuple[int, str, str]]:
    return [tuple(r) for r in db.execute("SELECT number, branch, state FROM pull_requests ORDER BY number")]


def fail_on(db: sqlite3.Connection, event: str) -> None:
    """Make the next matching write fail inside SQLite itself (a real failure, not a mock)."""
    db.execute(f"CREATE TRIGGER boom BEFORE {event} BEGIN SELECT RAISE(ABORT, 'disk says no'); END")


def test_propose_opens_then_updates_one_pull_request(provider: LocalProvider, repo: GitRepo) -> None:
    main = repo.resolve(MAIN)
    pr = provider.propose(proposal("a"))
    assert (pr.number, pr.branch, pr.state, pr.base_sha, pr.author) == (1, "endpoint/a", "open", main, "Alice")
    assert repo.resolve("endpoint/a") == pr.head_sha

    again = provider.propose(proposal("a", b"spec v2\n", action="update"))
    assert again.number == 1 and again.head_sha != pr.head_sha and again.action == "create"
    assert repo.parents(again.head_sha) == [pr.head_sha]
    assert provider.find_open("a") == again
    assert provider.propose(proposal("b")).number == 2
    assert [p.number for p in provider.list()] == [2, 1]
    assert provider.list(state="merged") == []


def test_checks_are_stored_per_head(provider: LocalProvider) -> None:
    pr = provider.propose(proposal("a"))
    checked = provider.record_checks(pr.number, head_sha=pr.head_sha, checks=[CheckResult("x", "pass")])
    assert checked.checks_passed
    moved = provider.propose(proposal("a", b"v2\n"))
    assert moved.checks == (), "checks of the old head do not count for the new one"
    failing = provider.record_checks(pr.number, head_sha=moved.head_sha,
                                     checks=[CheckResult("x", "fail", [{"rule": "r", "message": "m"}])])
    assert not failing.checks_passed and failing.failing_checks[0].findings == [{"rule": "r", "message": "m"}]


def test_insert_failure_deletes_the_new_branch(provider: LocalProvider, repo: GitRepo,
                                               db: sqlite3.Connection) -> None:
    fail_on(db, "INSERT ON pull_requests")
    with pytest.raises(sqlite3.DatabaseError):
        provider.propose(proposal("a"))
    assert repo.branches() == [MAIN]
    assert rows(db) == []


def test_update_failure_restores_the_branch(provider: LocalProvider, repo: GitRepo, db: sqlite3.Connection) -> None:
    pr = provider.propose(proposal("a"))
    fail_on(db, "UPDATE ON pull_requests")
    with pytest.raises(sqlite3.DatabaseError):
        provider.propose(proposal("a", b"v2\n"))
    assert repo.resolve("endpoint/a") == pr.head_sha
    assert provider.get(pr.number).head_sha == pr.head_sha


def test_merge_failure_restores_main(provider: LocalProvider, repo: GitRepo, db: sqlite3.Connection) -> None:
    pr = provider.propose(proposal("a"))
    main = repo.resolve(MAIN)
    fail_on(db, "UPDATE ON pull_requests")
    with pytest.raises(sqlite3.DatabaseError):
        provider.merge(pr.number, author=ALICE)
    assert repo.resolve(MAIN) == main
    assert provider.get(pr.number).state == "open"
    assert repo.resolve("endpoint/a") == pr.head_sha


def test_merge_and_close(provider: LocalProvider, repo: GitRepo) -> None:
    a = provider.propose(proposal("a"))
    b = provider.propose(proposal("b"))
    merged = provider.merge(a.number, author=ALICE)
    assert merged.state == "merged" and merged.merged_sha == repo.resolve(MAIN)
    assert repo.parents(merged.merged_sha or "")[1] == a.head_sha
    closed = provider.close(b.number)
    assert closed.state == "closed" and closed.merged_sha is None
    assert repo.branches() == [MAIN]
    for number in (a.number, b.number):
        with pytest.raises(Conflict):
            provider.close(number)
        with pytest.raises(Conflict):
            provider.merge(number, author=ALICE)
    assert provider.propose(proposal("a", b"again\n")).number == 3, "a new PR once the old one is done"


def test_stale_branch_without_pull_request_is_a_conflict(provider: LocalProvider, repo: GitRepo,
                                                         db: sqlite3.Connection) -> None:
    stale = repo.commit(branch="endpoint/a", files={"x": b"x"}, message="m", author=ALICE)
    with pytest.raises(Conflict) as caught:
        provider.propose(proposal("a"))
    assert "endpoint/a" in caught.value.fix
    assert repo.resolve("endpoint/a") == stale and rows(db) == []


def test_refresh_follows_a_pushed_head(provider: LocalProvider, repo: GitRepo) -> None:
    pr = provider.propose(proposal("a"))
    pushed = repo.commit(branch="endpoint/a", files={"apps/a/extra.yaml": b"x"}, message="m", author=ALICE)
    assert provider.refresh(pr.number).head_sha == pushed
    assert provider.refresh(pr.number).head_sha == pushed


def test_unknown_number_is_not_found(provider: LocalProvider) -> None:
    with pytest.raises(NotFound):
        provider.get(42)
