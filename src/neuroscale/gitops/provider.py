"""Pull requests as values, and the `GitProvider` protocol that hosts them.

Why a protocol: embedded mode keeps pull requests in SQLite next to a bare
repository (`LocalProvider`); a GitHub provider can later implement the same
methods over the GitHub API without the services or adapters changing.
Check *policy* (which checks run, when a merge is allowed) lives in services;
a provider only stores and moves things.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from neuroscale.gitops.repo import MAIN, Author, GitRepo

PRState = Literal["open", "merged", "closed"]
Action = Literal["create", "update", "delete"]
CheckStatus = Literal["pass", "fail", "error", "pending"]  # pending: waiting for something to be ready
PR_STATES: tuple[str, ...] = ("open", "merged", "closed")
BRANCH_PREFIX = "endpoint/"
#: The label of a pull request someone trusted vouched for: NeuroScale puts it on the pull requests its signed-in
#: users open, a maintainer on any other (on GitHub only triage or write access may label). Cluster previews
#: deploy only pull requests carrying it: the model file a pull request names is loaded, and loading a pickle
#: (sklearn, joblib) runs code, so a fork's pull request must not get a preview by being opened.
PREVIEW_LABEL = "neuroscale-preview"


def endpoint_branch(name: str) -> str:
    return f"{BRANCH_PREFIX}{name}"


@dataclass(frozen=True)
class CheckResult:
    """One check on one pull-request head; `findings` are `Finding.to_dict()` values."""

    name: str
    status: CheckStatus
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Approval:
    """A reviewer's approval of one head commit; a new head needs a new approval."""

    user: str
    head_sha: str
    approved_at: str


@dataclass(frozen=True)
class CheckRun:
    """The checks that ran on one head commit of a pull request."""

    head_sha: str
    ran_at: str
    checks: tuple[CheckResult, ...]


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    branch: str
    author: str
    state: PRState
    head_sha: str
    base_sha: str
    merged_sha: str | None
    created_at: str
    updated_at: str
    endpoint: str
    action: Action
    checks: tuple[CheckResult, ...] = ()
    merged_by: str | None = None
    approvals: tuple[Approval, ...] = ()
    #: Check runs of heads this pull request had before its current one, newest first.
    earlier_check_runs: tuple[CheckRun, ...] = ()

    @property
    def approved_by(self) -> list[str]:
        """Who approved the current head."""
        return [approval.user for approval in self.approvals if approval.head_sha == self.head_sha]

    @property
    def failing_checks(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    @property
    def checks_passed(self) -> bool:
        """True only when checks ran on the current head and every one passed."""
        return bool(self.checks) and not self.failing_checks

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [check.to_dict() for check in self.checks]
        data["checks_passed"] = self.checks_passed
        data["approved_by"] = self.approved_by
        return data


@dataclass(frozen=True)
class Proposal:
    """A change to one endpoint: files to write (None deletes) on its branch."""

    endpoint: str
    action: Action
    title: str
    files: Mapping[str, bytes | None]
    author: Author

    @property
    def branch(self) -> str:
        return endpoint_branch(self.endpoint)


class GitProvider(Protocol):
    """Where pull requests live; every method returns the pull request as it now stands."""

    #: True when authors and approvals are NeuroScale users (embedded); False when the host keeps
    #: its own accounts and review rules (GitHub branch protection).
    reviews_locally: bool

    def propose(self, proposal: Proposal) -> PullRequest:
        """Open a pull request, or add a commit to the endpoint's open one. Leaves nothing behind on failure."""

    def find_open(self, endpoint: str) -> PullRequest | None: ...

    def get(self, number: int) -> PullRequest: ...

    def list(self, *, state: PRState | None = None) -> list[PullRequest]: ...

    def refresh(self, number: int) -> PullRequest:
        """Follow commits pushed to the branch by other means (plain git)."""

    def record_checks(self, number: int, *, head_sha: str, checks: Sequence[CheckResult]) -> PullRequest: ...

    def approve(self, number: int, *, user: str, head_sha: str) -> PullRequest:
        """Record `user`'s approval of `head_sha`, which must be the open pull request's head."""

    def merge(self, number: int, *, author: Author) -> PullRequest:
        """Merge into main with a merge commit and delete the branch; Conflict on conflicts.

        `author.name` is recorded as who merged."""

    def close(self, number: int) -> PullRequest:
        """Mark closed without merging and delete the branch."""


def review_base(repo: GitRepo, pr: PullRequest) -> str:
    """The commit an open pull request's changes are taken from: the merge base of its head and main, as
    GitHub shows them. The base it was opened on would count main's later commits as the pull request's
    own once the branch merges main in or is rebased onto it. Closed ones keep their recorded base."""
    if pr.state != "open" or repo.resolve(MAIN) is None:
        return pr.base_sha
    return repo.merge_base(pr.head_sha, MAIN) or pr.base_sha
