"""GitHubProvider: pushes to any git remote; PRs through recorded GitHub REST exchanges."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from github import Auth, Github

from neuroscale.errors import InvalidInput
from neuroscale.gitops.github_provider import TOKEN_ENV, GitHubProvider
from neuroscale.gitops.provider import Proposal
from neuroscale.gitops.repo import Author, GitRepo

from tests.platform.github_replay import Replay

TOKEN = "ghp_" + "R3c0rdedT0kenForTests0000000000000000"
AUTHOR = Author("Dana Ops", "dana@acme.dev")
MANIFEST = b'apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: "fraud"\n'


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """The 'real remote': a bare repository with a main branch, reached through git's transport."""
    GitRepo.init_bare(tmp_path / "remote.git", files={"README.md": b"# platform\n"}, author=AUTHOR, message="init")
    return tmp_path / "remote.git"


def provider(tmp_path: Path, remote: Path, replay: Replay | None, *, token: str | None = TOKEN) -> GitHubProvider:
    mirror = GitRepo.init_bare(tmp_path / "mirror.git", files={"x": b""}, author=AUTHOR, message="seed")
    client = None
    if replay is not None:
        client = Github(auth=Auth.Token(token or ""), base_url=replay.base_url, retry=None,
                        seconds_between_requests=None, seconds_between_writes=None, timeout=5, lazy=True)
    return GitHubProvider(mirror, remote_url=str(remote), github_repo="acme/ml-platform" if replay else None,
                          token=token, client=client)


def proposal(action: str = "create", content: bytes = MANIFEST) -> Proposal:
    return Proposal(endpoint="fraud", action=action, title=f"endpoint: {action} fraud",  # type: ignore[arg-type]
                    files={"apps/fraud/inference-service.yaml": content}, author=AUTHOR)


def test_any_remote_gets_the_branch_pushed_without_a_pr(tmp_path: Path, remote: Path) -> None:
    gh = provider(tmp_path, remote, None, token=None)
    pr = gh.propose(proposal())
    assert pr.number == 0 and pr.branch == "endpoint/fraud" and not gh.opens_pull_requests
    assert git("--git-dir", str(remote), "rev-parse", "refs/heads/endpoint/fraud") == pr.head_sha
    shown = git("--git-dir", str(remote), "show", f"{pr.head_sha}:apps/fraud/inference-service.yaml")
    assert shown == MANIFEST.decode().strip()
    assert git("--git-dir", str(remote), "rev-parse", f"{pr.head_sha}^") == git("--git-dir", str(remote),
                                                                                  "rev-parse", "main")


def test_first_proposal_opens_a_pull_request(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("propose_new") as replay:
        pr = provider(tmp_path, remote, replay).propose(proposal())
    assert replay.unexpected == [] and replay.remaining == 0
    create = replay.requests[-1]
    assert create["method"] == "POST" and create["json"]["head"] == "endpoint/fraud" and create["json"]["base"] == "main"
    assert "action=create endpoint=fraud" in create["json"]["body"]
    assert all(r["authorization"] == f"token {TOKEN}" for r in replay.requests)
    assert (pr.number, pr.state, pr.endpoint, pr.action, pr.author) == (7, "open", "fraud", "create", "neuroscale-bot")
    assert git("--git-dir", str(remote), "rev-parse", "--verify", "refs/heads/endpoint/fraud")


def test_rerun_updates_the_open_pull_request_instead_of_failing(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("propose_new") as replay:
        gh = provider(tmp_path, remote, replay)
        first_head = gh.propose(proposal()).head_sha
    pushed_first = git("--git-dir", str(remote), "rev-parse", "refs/heads/endpoint/fraud")
    with Replay.from_files("propose_existing") as replay:
        gh = provider(tmp_path, remote, replay)
        pr = gh.propose(proposal("update", MANIFEST + b"  labels: {}\n"))
    assert replay.unexpected == [] and replay.remaining == 0
    assert [r["method"] for r in replay.requests] == ["GET", "PATCH", "GET"]  # no second POST
    assert (pr.number, pr.title, pr.action) == (7, "endpoint: update fraud", "update")
    pushed_second = git("--git-dir", str(remote), "rev-parse", "refs/heads/endpoint/fraud")
    assert pushed_second != pushed_first and git("--git-dir", str(remote), "rev-parse", f"{pushed_second}^") == pushed_first
    assert first_head  # the recorded PR head


def test_concurrently_opened_pull_request_is_updated(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("propose_race") as replay:
        pr = provider(tmp_path, remote, replay).propose(proposal())
    assert replay.unexpected == [] and replay.remaining == 0 and pr.number == 7


def test_bad_token_is_reported_by_length_never_by_value(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("bad_credentials") as replay:
        with pytest.raises(InvalidInput) as caught:
            provider(tmp_path, remote, replay).propose(proposal())
    text = f"{caught.value} {caught.value.to_dict()}"
    assert TOKEN not in text and f"{len(TOKEN)} characters" in text and TOKEN_ENV in text


def test_merge_through_the_api(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("propose_new") as replay:
        provider(tmp_path, remote, replay).propose(proposal())
    with Replay.from_files("merge") as replay:
        pr = provider(tmp_path, remote, replay).merge(7, author=AUTHOR)
    assert replay.unexpected == [] and replay.remaining == 0
    assert pr.state == "merged" and pr.merged_sha
    assert replay.requests[1]["json"]["merge_method"] == "merge"
    missing = subprocess.run(["git", "--git-dir", str(remote), "rev-parse", "--verify", "-q", "refs/heads/endpoint/fraud"],
                             capture_output=True)
    assert missing.returncode != 0  # branch removed after merge


def test_token_info_shows_only_the_length(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, remote: Path) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    mirror = GitRepo.init_bare(tmp_path / "m.git", files={"x": b""}, author=AUTHOR, message="seed")
    info = str(GitHubProvider(mirror, remote_url=str(remote)).token_info)
    assert TOKEN not in info and str(len(TOKEN)) in info


def test_for_remote_pushes_to_a_plain_remote_through_a_fresh_mirror(tmp_path: Path, remote: Path) -> None:
    from neuroscale.gitops.github_provider import for_remote

    gh = for_remote(str(remote), mirror=tmp_path / "cache" / "mirror.git", token=None)
    assert gh.github_repo is None
    pr = gh.propose(proposal())
    assert git("--git-dir", str(remote), "rev-parse", "refs/heads/endpoint/fraud") == pr.head_sha
