"""`LocalProvider`: pull requests kept in SQLite beside the bare repository.

Why one write transaction around each git step: the portal, the CLI and the
demo may propose or merge at the same time from different processes.
`BEGIN IMMEDIATE` serialises them on the state database, and every ref the
operation moved is moved back (by compare-and-swap) when a later step fails,
so a failed request never leaves a branch without a pull request, or a merged
main with an open pull request.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from neuroscale.db import add_column, write_transaction
from neuroscale.errors import Conflict, NeuroScaleError, NotFound
from neuroscale.gitops.provider import Approval, CheckResult, CheckRun, PRState, Proposal, PullRequest
from neuroscale.gitops.repo import MAIN, Author, GitRepo

T = TypeVar("T")

#: PullRequest fields read straight from a `pull_requests` row.
_ROW_FIELDS = ("number", "title", "branch", "author", "state", "head_sha", "base_sha", "merged_sha", "merged_by",
               "created_at", "updated_at", "endpoint", "action")

SCHEMA = """
CREATE TABLE IF NOT EXISTS pull_requests (
    number     INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT NOT NULL,
    branch     TEXT NOT NULL,
    author     TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('open', 'merged', 'closed')),
    head_sha   TEXT NOT NULL,
    base_sha   TEXT NOT NULL,
    merged_sha TEXT,
    merged_by  TEXT,
    endpoint   TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS pull_requests_one_open_per_branch
    ON pull_requests (branch) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS pr_checks (
    pr_number INTEGER NOT NULL REFERENCES pull_requests (number),
    head_sha  TEXT NOT NULL,
    name      TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'error', 'pending')),
    findings  TEXT NOT NULL,
    ran_at    TEXT NOT NULL,
    PRIMARY KEY (pr_number, head_sha, name)
);
CREATE TABLE IF NOT EXISTS pr_approvals (
    pr_number   INTEGER NOT NULL REFERENCES pull_requests (number),
    head_sha    TEXT NOT NULL,
    user        TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    PRIMARY KEY (pr_number, head_sha, user)
);
"""

#: Columns added after the first release, created on databases that predate them.
_ADDED_COLUMNS = (("pull_requests", "merged_by", "TEXT"),)


def _allow_pending_checks(db: sqlite3.Connection) -> None:
    """Databases from before `pending` checks refuse that status: rebuild the table with the new constraint."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'pr_checks'").fetchone()
    if row is None or "'pending'" in row["sql"]:
        return
    table = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS pr_checks"):SCHEMA.index("CREATE TABLE IF NOT EXISTS pr_approvals")]
    with write_transaction(db):
        db.execute(table.replace("IF NOT EXISTS pr_checks", "pr_checks_widened"))
        db.execute("INSERT INTO pr_checks_widened SELECT * FROM pr_checks")
        db.execute("DROP TABLE pr_checks")
        db.execute("ALTER TABLE pr_checks_widened RENAME TO pr_checks")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalProvider:
    """Pull requests over a bare `GitRepo`, stored in the platform's SQLite database."""

    reviews_locally = True

    def __init__(self, repo: GitRepo, db: sqlite3.Connection) -> None:
        self.repo = repo
        self.db = db
        self._lock = threading.RLock()

    @staticmethod
    def ensure_schema(db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)
        for table, column, definition in _ADDED_COLUMNS:
            add_column(db, table, column, definition)
        _allow_pending_checks(db)

    def _guarded(self, step: Callable[[], T], *, undo: Callable[[], object]) -> T:
        """Run `step` in one transaction; on any failure roll back and run `undo` (git compensation)."""
        with self._lock:
            try:
                with write_transaction(self.db):
                    return step()
            except BaseException as exc:
                try:
                    undo()
                except NeuroScaleError as failed:  # keep the original error; say the undo failed too
                    exc.add_note(f"and undoing the git step failed: {failed}")
                raise

    # -- reading -----------------------------------------------------------

    def _row(self, number: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute("SELECT * FROM pull_requests WHERE number = ?",
                                                  (number,)).fetchone()
        if row is None:
            raise NotFound(f"no pull request #{number}", where="pull requests",
                           fix="list them with `neuroscale pr list`")
        return row

    def _check_runs(self, rows: Sequence[sqlite3.Row]) -> dict[int, list[CheckRun]]:
        """Every check run of each pull request, grouped by head commit, newest head first."""
        found: dict[int, list[CheckRun]] = {row["number"]: [] for row in rows}
        if not rows:
            return found
        marks = ",".join("?" * len(rows))
        runs: dict[tuple[int, str], list[sqlite3.Row]] = {}
        for check in self.db.execute(f"SELECT * FROM pr_checks WHERE pr_number IN ({marks}) ORDER BY rowid",
                                     [row["number"] for row in rows]):
            runs.setdefault((check["pr_number"], check["head_sha"]), []).append(check)
        for (number, head), checks in reversed(runs.items()):
            results = tuple(CheckResult(c["name"], c["status"], json.loads(c["findings"])) for c in checks)
            found[number].append(CheckRun(head, checks[-1]["ran_at"], results))
        return found

    def _approvals(self, rows: Sequence[sqlite3.Row]) -> dict[int, list[Approval]]:
        found: dict[int, list[Approval]] = {row["number"]: [] for row in rows}
        if not rows:
            return found
        marks = ",".join("?" * len(rows))
        for row in self.db.execute(f"SELECT * FROM pr_approvals WHERE pr_number IN ({marks}) ORDER BY rowid",
                                   [row["number"] for row in rows]):
            found[row["pr_number"]].append(Approval(row["user"], row["head_sha"], row["approved_at"]))
        return found

    def _build(self, rows: Sequence[sqlite3.Row]) -> list[PullRequest]:
        runs = self._check_runs(rows)
        approvals = self._approvals(rows)
        built = []
        for row in rows:
            current = [run for run in runs[row["number"]] if run.head_sha == row["head_sha"]]
            earlier = [run for run in runs[row["number"]] if run.head_sha != row["head_sha"]]
            built.append(PullRequest(
                **{k: row[k] for k in _ROW_FIELDS}, checks=current[0].checks if current else (),
                approvals=tuple(approvals[row["number"]]), earlier_check_runs=tuple(earlier)))
        return built

    def get(self, number: int) -> PullRequest:
        with self._lock:
            return self._build([self._row(number)])[0]

    def find_open(self, endpoint: str) -> PullRequest | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM pull_requests WHERE endpoint = ? AND state = 'open'",
                                  (endpoint,)).fetchone()
            return self._build([row])[0] if row else None

    def list(self, *, state: PRState | None = None) -> list[PullRequest]:
        with self._lock:
            if state is None:
                rows = self.db.execute("SELECT * FROM pull_requests ORDER BY number DESC").fetchall()
            else:
                rows = self.db.execute("SELECT * FROM pull_requests WHERE state = ? ORDER BY number DESC",
                                       (state,)).fetchall()
            return self._build(rows)

    # -- writing -----------------------------------------------------------

    def propose(self, proposal: Proposal) -> PullRequest:
        branch = proposal.branch
        moved: dict[str, str | None] = {}

        def step() -> int:
            row = self.db.execute("SELECT * FROM pull_requests WHERE branch = ? AND state = 'open'",
                                  (branch,)).fetchone()
            old = self.repo.resolve(branch)
            if row is None and old is not None:
                raise Conflict(f"branch {branch} exists but no pull request is open for it",
                               where=str(self.repo.path),
                               fix=f"delete the stale branch (`git push <remote> --delete {branch}`) and retry")
            base = row["base_sha"] if row else self.repo.resolve(MAIN)
            head = self.repo.commit(branch=branch, files=proposal.files, message=proposal.title,
                                    author=proposal.author, start_from=base or MAIN)
            if head != old:
                moved.update(old=old, head=head)
            now = _now()
            if row is not None:
                self.db.execute("UPDATE pull_requests SET head_sha = ?, updated_at = ? WHERE number = ?",
                                (head, now, row["number"]))
                return int(row["number"])
            cursor = self.db.execute(
                "INSERT INTO pull_requests (title, branch, author, state, head_sha, base_sha, endpoint, action,"
                " created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                (proposal.title, branch, proposal.author.name, head, base, proposal.endpoint, proposal.action,
                 now, now))
            return int(cursor.lastrowid or 0)

        def undo() -> None:
            if moved:
                self.repo.restore_branch(branch, to=moved["old"], expected=str(moved["head"]))

        return self.get(self._guarded(step, undo=undo))

    def refresh(self, number: int) -> PullRequest:
        """Follow the branch: a push moves the head; a branch deleted with plain git closes the pull request,
        as GitHub does, so nothing merges, previews or waits for a proposal its author withdrew."""
        with self._lock:
            pr = self.get(number)
            if pr.state != "open":
                return pr
            tip = self.repo.resolve(pr.branch)
            if tip == pr.head_sha:
                return pr
            if tip is None:
                self.db.execute("UPDATE pull_requests SET state = 'closed', updated_at = ? WHERE number = ?",
                                (_now(), number))
            else:
                self.db.execute("UPDATE pull_requests SET head_sha = ?, updated_at = ? WHERE number = ?",
                                (tip, _now(), number))
            return self.get(number)

    def record_checks(self, number: int, *, head_sha: str, checks: Sequence[CheckResult]) -> PullRequest:
        def step() -> None:
            self._row(number)
            ran_at = _now()
            self.db.execute("DELETE FROM pr_checks WHERE pr_number = ? AND head_sha = ?", (number, head_sha))
            self.db.executemany(
                "INSERT INTO pr_checks (pr_number, head_sha, name, status, findings, ran_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(number, head_sha, c.name, c.status, json.dumps(c.findings), ran_at) for c in checks])

        self._guarded(step, undo=lambda: None)
        return self.get(number)

    def _require_open(self, number: int) -> PullRequest:
        pr = self._build([self._row(number)])[0]
        if pr.state != "open":
            raise Conflict(f"pull request #{number} is already {pr.state}", where=f"pull request #{number}",
                           fix="open a new one with `neuroscale endpoint create|update|delete`")
        return pr

    def approve(self, number: int, *, user: str, head_sha: str) -> PullRequest:
        def step() -> None:
            pr = self._require_open(number)
            if pr.head_sha != head_sha:
                raise Conflict(f"pull request #{number} changed: its head is now {pr.head_sha[:7]}, "
                               f"not {head_sha[:7]}", where=f"pull request #{number}",
                               fix="look at the new changes and their checks, then approve again")
            self.db.execute("INSERT OR IGNORE INTO pr_approvals (pr_number, head_sha, user, approved_at)"
                            " VALUES (?, ?, ?, ?)", (number, head_sha, user, _now()))

        self._guarded(step, undo=lambda: None)
        return self.get(number)

    def merge(self, number: int, *, author: Author) -> PullRequest:
        merged: dict[str, str] = {}

        def step() -> None:
            pr = self._require_open(number)
            message = f"Merge pull request #{number} from {pr.branch}\n\n{pr.title}\n"
            before = self.repo.resolve(MAIN)
            sha = self.repo.merge(source=pr.head_sha, target=MAIN, message=message, author=author)
            if sha != before:
                merged.update(sha=sha, parent=self.repo.parents(sha)[0])
            self.db.execute("UPDATE pull_requests SET state = 'merged', merged_sha = ?, merged_by = ?, updated_at = ?"
                            " WHERE number = ?", (sha, author.name, _now(), number))

        def undo() -> None:
            if "sha" in merged:
                self.repo.restore_branch(MAIN, to=merged["parent"], expected=merged["sha"])

        self._guarded(step, undo=undo)
        pr = self.get(number)
        self.repo.restore_branch(pr.branch, to=None, expected=pr.head_sha)
        return pr

    def close(self, number: int) -> PullRequest:
        def step() -> PullRequest:
            pr = self._require_open(number)
            self.db.execute("UPDATE pull_requests SET state = 'closed', updated_at = ? WHERE number = ?",
                            (_now(), number))
            return pr

        pr = self._guarded(step, undo=lambda: None)
        tip = self.repo.resolve(pr.branch)
        if tip is not None:
            self.repo.restore_branch(pr.branch, to=None, expected=tip)
        return self.get(number)
