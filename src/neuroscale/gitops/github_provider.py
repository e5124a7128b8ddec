"""`GitHubProvider`: pull requests against a real remote (cluster mode).

Any git remote gets the endpoint branch pushed (plain `git push`, with a lease
so a branch someone else moved is never overwritten). When the remote is on
GitHub and a token is configured, the pull request itself is opened through
the GitHub REST API (PyGithub); proposing again for the same endpoint updates
the open pull request instead of failing with "A pull request already exists".
Its pull requests carry `PREVIEW_LABEL`: their authors are the platform's
signed-in users, so the cluster previews them (a fork's waits for a maintainer).

The token comes from `NEUROSCALE_GITHUB_TOKEN`. It is never printed, logged or
put on a command line: git receives it through `GIT_CONFIG_*` environment
variables, and diagnostics show only its length (FM-34).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from github import Auth, Github, GithubException
from github.PullRequest import PullRequest as GhPull
from github.Repository import Repository

from neuroscale.errors import Conflict, GitError, InvalidInput, NotFound
from neuroscale.gitops.provider import (
    BRANCH_PREFIX,
    PREVIEW_LABEL,
    Action,
    CheckResult,
    PRState,
    Proposal,
    PullRequest,
)
from neuroscale.gitops.repo import MAIN, Author, GitRepo

TOKEN_ENV = "NEUROSCALE_GITHUB_TOKEN"
#: GitHub Enterprise (or a recorded-exchange server in tests) overrides the API base URL.
API_URL_ENV = "NEUROSCALE_GITHUB_API_URL"
API_URL = "https://api.github.com"
_MARKER = re.compile(r"<!-- neuroscale: action=(?P<action>create|update|delete) endpoint=(?P<endpoint>[a-z0-9-]+) -->")
_STATUS = {"pass": "success", "fail": "failure", "error": "error"}
_SCP_REMOTE = re.compile(r"^[A-Za-z0-9._-]+@(?P<host>[A-Za-z0-9.-]+):(?P<path>[A-Za-z0-9._~/-]+)$")
MIRROR_AUTHOR = Author("NeuroScale", "neuroscale@localhost")
log = logging.getLogger(__name__)


def github_repository(url: str) -> str | None:
    """`owner/name` when `url` is a github.com clone URL (https, ssh or scp-style), else None."""
    scp = _SCP_REMOTE.match(url)
    if scp:
        host, path = scp["host"], scp["path"]
    else:
        parsed = urlparse(url)
        host, path = parsed.hostname or "", parsed.path
    if host.lower() != "github.com":
        return None
    parts = path.strip("/").removesuffix(".git").split("/")
    return "/".join(parts) if len(parts) == 2 and all(parts) else None


@dataclass(frozen=True)
class TokenInfo:
    """What diagnostics may show about the token: whether it is set and how long it is."""

    present: bool
    length: int

    @classmethod
    def of(cls, token: str | None) -> TokenInfo:
        return cls(bool(token), len(token or ""))

    def __str__(self) -> str:
        return f"{TOKEN_ENV}: set, {self.length} characters" if self.present else f"{TOKEN_ENV}: not set"


def _github_message(exc: GithubException) -> str:
    """What GitHub said about a refused request (its JSON `message`), or nothing."""
    return str(exc.data.get("message", "")) if isinstance(exc.data, dict) else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


class GitHubProvider:
    """A `GitProvider` over a local bare mirror, a pushable remote and (optionally) the GitHub API."""

    reviews_locally = False

    def __init__(self, repo: GitRepo, *, remote_url: str, github_repo: str | None = None,
                 token: str | None = None, client: Github | None = None) -> None:
        self.repo = repo
        self.remote_url = remote_url
        self.github_repo = github_repo
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._client = client
        if client is None and self._token and github_repo:
            self._client = Github(auth=Auth.Token(self._token), base_url=os.environ.get(API_URL_ENV) or API_URL,
                                  lazy=True)

    # -- diagnostics -------------------------------------------------------

    @property
    def token_info(self) -> TokenInfo:
        return TokenInfo.of(self._token)

    @property
    def opens_pull_requests(self) -> bool:
        return self._client is not None and self.github_repo is not None

    # -- git transport -----------------------------------------------------

    def _git_env(self) -> dict[str, str]:
        env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
        if self._token and self.remote_url.startswith("https://"):
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                       GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")
        return env

    def _git(self, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(["git", "--git-dir", str(self.repo.path), *args], capture_output=True,
                              env=self._git_env(), check=False, timeout=120)
        if done.returncode not in ok:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            text = message[-1] if message else f"exit code {done.returncode}"
            if self._token:
                text = text.replace(self._token, "***")
            raise GitError(f"git {args[0]} to {self.remote_url} failed: {text}", where=self.remote_url,
                           fix=f"check the remote URL and your access to it ({self.token_info})")
        return done

    def _fetch(self, branch: str) -> None:
        """Mirror the remote's `main` and the endpoint branch (if it exists) into the local repository."""
        self.sync()
        listed = self._git("ls-remote", "--heads", self.remote_url, f"refs/heads/{branch}").stdout.decode()
        if listed.strip():
            self._git("fetch", "--quiet", self.remote_url, f"+refs/heads/{branch}:refs/heads/{branch}")
        else:
            self.repo.delete_branch(branch)

    def sync(self) -> None:
        """Bring the mirror's `main` up to date with the remote, so reads see what was merged there."""
        self._git("fetch", "--quiet", self.remote_url, f"+refs/heads/{MAIN}:refs/heads/{MAIN}")

    def _push(self, branch: str, *, new: str, old: str | None) -> None:
        lease = f"--force-with-lease=refs/heads/{branch}:{old or ''}"
        self._git("push", "--quiet", lease, self.remote_url, f"{new}:refs/heads/{branch}")

    # -- GitHub API --------------------------------------------------------

    def _gh_repo(self) -> Repository:
        if self._client is None or self.github_repo is None:
            raise NotFound("pull requests are not available for this remote", where=self.remote_url,
                           fix=f"use a github.com remote and set {TOKEN_ENV}; the branch itself was pushed")
        return self._client.get_repo(self.github_repo)

    def _api(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except GithubException as exc:
            detail = _github_message(exc)
            if exc.status == 401:
                raise InvalidInput(f"GitHub rejected the token ({self.token_info})", where="GitHub API",
                                   fix=f"create a token with 'repo' scope and export it as {TOKEN_ENV}") from None
            if exc.status == 404:
                raise NotFound(f"GitHub: {detail or 'not found'}", where=f"github.com/{self.github_repo}",
                               fix="check the repository name and that the token can read it") from None
            if exc.status in (405, 409, 422):
                raise Conflict(f"GitHub: {detail or exc.status}", where=f"github.com/{self.github_repo}",
                               fix="look at the pull request on GitHub; resolve and retry") from None
            raise GitError(f"GitHub API error {exc.status}: {detail}", where=f"github.com/{self.github_repo}",
                           fix="retry later; check https://www.githubstatus.com") from None

    def _to_pr(self, pull: GhPull) -> PullRequest:
        match = _MARKER.search(pull.body or "")
        branch = pull.head.ref
        action: Action = match["action"] if match else "update"  # type: ignore[assignment]
        state: PRState = "merged" if pull.merged else ("open" if pull.state == "open" else "closed")
        return PullRequest(
            number=pull.number, title=pull.title, branch=branch, author=pull.user.login if pull.user else "",
            state=state, head_sha=pull.head.sha, base_sha=pull.base.sha,
            merged_sha=pull.merge_commit_sha if pull.merged else None,
            created_at=_iso(pull.created_at), updated_at=_iso(pull.updated_at),
            endpoint=match["endpoint"] if match else branch.removeprefix(BRANCH_PREFIX), action=action)

    def _find_open_pull(self, branch: str) -> GhPull | None:
        repo = self._gh_repo()
        owner = (self.github_repo or "").split("/")[0]
        pulls = self._api(lambda: list(repo.get_pulls(state="open", head=f"{owner}:{branch}", base=MAIN)))
        return pulls[0] if pulls else None

    # -- GitProvider -------------------------------------------------------

    def propose(self, proposal: Proposal) -> PullRequest:
        branch = proposal.branch
        self._fetch(branch)
        old = self.repo.resolve(branch)
        head = self.repo.commit(branch=branch, files=proposal.files, message=proposal.title,
                                author=proposal.author, start_from=MAIN)
        if head != old:
            self._push(branch, new=head, old=old)
        if not self.opens_pull_requests:
            return self._pushed_only(proposal, head)
        body = (f"{proposal.title}\n\nProposed by {proposal.author.name} with NeuroScale.\n\n"
                f"<!-- neuroscale: action={proposal.action} endpoint={proposal.endpoint} -->")
        existing = self._find_open_pull(branch)
        if existing is None:
            repo = self._gh_repo()
            try:
                created = self._api(repo.create_pull, base=MAIN, head=branch, title=proposal.title, body=body)
            except Conflict:  # opened concurrently by someone else: update that one instead
                existing = self._find_open_pull(branch)
                if existing is None:
                    raise
            else:
                self._vouch_for_preview(created)
                return self._to_pr(created)
        self._api(existing.edit, title=proposal.title, body=body)
        self._vouch_for_preview(existing)
        return self.get(existing.number)

    def _vouch_for_preview(self, pull: GhPull) -> None:
        """Label the pull request for a cluster preview, as its author is one of the platform's users.

        The pull request stands either way: without the label it only goes without a preview, which a
        warning says, with how to fix it.
        """
        if any(label.name == PREVIEW_LABEL for label in pull.labels):
            return
        try:
            pull.add_to_labels(PREVIEW_LABEL)
        except GithubException as exc:
            detail = _github_message(exc)
            log.warning("pull request #%d stays without the %r label, so the cluster gives it no preview: GitHub "
                        "answered %s%s. Fix: give the token (%s) 'issues: write' or 'pull_requests: write' on "
                        "%s and propose again, or add the label on GitHub by hand", pull.number, PREVIEW_LABEL,
                        exc.status, f" ({detail})" if detail else "", self.token_info, self.github_repo)

    def _pushed_only(self, proposal: Proposal, head: str) -> PullRequest:
        """A pushed branch on a remote without a PR API: number 0 means 'open a PR by hand'."""
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        return PullRequest(number=0, title=proposal.title, branch=proposal.branch, author=proposal.author.name,
                           state="open", head_sha=head, base_sha=self.repo.resolve(MAIN) or "", merged_sha=None,
                           created_at=now, updated_at=now, endpoint=proposal.endpoint, action=proposal.action)

    def find_open(self, endpoint: str) -> PullRequest | None:
        if not self.opens_pull_requests:
            return None
        pull = self._find_open_pull(BRANCH_PREFIX + endpoint)
        return self._to_pr(pull) if pull else None

    def get(self, number: int) -> PullRequest:
        repo = self._gh_repo()
        return self._to_pr(self._api(repo.get_pull, number))

    def list(self, *, state: PRState | None = None) -> list[PullRequest]:
        repo = self._gh_repo()
        api_state = "open" if state == "open" else ("closed" if state in ("merged", "closed") else "all")
        pulls = self._api(lambda: list(repo.get_pulls(state=api_state, base=MAIN)))
        prs = [self._to_pr(p) for p in pulls if p.head.ref.startswith(BRANCH_PREFIX)]
        return [pr for pr in prs if state is None or pr.state == state]

    def refresh(self, number: int) -> PullRequest:
        return self.get(number)

    def record_checks(self, number: int, *, head_sha: str, checks: Sequence[CheckResult]) -> PullRequest:
        """Each check becomes a commit status `neuroscale/<name>` on the head commit."""
        repo = self._gh_repo()
        commit = repo.get_commit(head_sha)
        for check in checks:
            count = len(check.findings)
            self._api(commit.create_status, state=_STATUS[check.status], context=f"neuroscale/{check.name}",
                      description=f"{check.status}: {count} finding(s)"[:140])
        return self.get(number)

    def approve(self, number: int, *, user: str, head_sha: str) -> PullRequest:
        """Reviews on GitHub belong to GitHub accounts: approve there, where branch protection counts them."""
        raise Conflict(f"pull request #{number} is reviewed on GitHub, not in NeuroScale",
                       where=f"github.com/{self.github_repo or self.remote_url}",
                       fix="approve it on GitHub (branch protection decides how many approvals it needs)")

    def merge(self, number: int, *, author: Author) -> PullRequest:
        repo = self._gh_repo()
        pull = self._api(repo.get_pull, number)
        if pull.state != "open":
            raise Conflict(f"pull request #{number} is already {'merged' if pull.merged else 'closed'}",
                           where=f"github.com/{self.github_repo}", fix="open a new pull request")
        self._api(pull.merge, merge_method="merge", commit_title=f"Merge pull request #{number} ({author.name})",
                  sha=pull.head.sha)
        self._delete_remote_branch(pull.head.ref)
        return self.get(number)

    def close(self, number: int) -> PullRequest:
        repo = self._gh_repo()
        pull = self._api(repo.get_pull, number)
        self._api(pull.edit, state="closed")
        self._delete_remote_branch(pull.head.ref)
        return self.get(number)

    def _delete_remote_branch(self, branch: str) -> None:
        """Best effort: a branch already gone (deleted on GitHub) is fine."""
        self._git("push", "--quiet", self.remote_url, f":refs/heads/{branch}", ok=(0, 1))



def for_remote(remote_url: str, *, mirror: Path, token: str | None = None) -> GitHubProvider:
    """A provider for `remote_url`, keeping its local mirror (a bare repository) at `mirror`."""
    repo = GitRepo.init_bare(mirror, files={}, author=MIRROR_AUTHOR, message="neuroscale mirror")
    return GitHubProvider(repo, remote_url=remote_url, github_repo=github_repository(remote_url), token=token)
