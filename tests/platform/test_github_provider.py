"""GitHubProvider: pushes to any git remote; PRs through recorded GitHub REST exchanges."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from github import Auth, Github

from neuroscale.errors import InvalidInput
from neuroscale.gitops.github_provider import TOKEN_ENV, GitHubProvider
from neuroscale.gitops.provider import PREVIEW_LABEL, Proposal
from neuroscale.gitops.repo import Author, GitRepo

from tests.platform.github_replay import Replay, recorded

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
    with Replay.from_files("propose_new", "add_label") as replay:
        pr = provider(tmp_path, remote, replay).propose(proposal())
    assert replay.unexpected == [] and replay.remaining == 0
    create = replay.requests[1]
    assert create["method"] == "POST" and create["json"]["head"] == "endpoint/fraud" and create["json"]["base"] == "main"
    assert "action=create endpoint=fraud" in create["json"]["body"]
    assert all(r["authorization"] == f"token {TOKEN}" for r in replay.requests)
    assert (pr.number, pr.state, pr.endpoint, pr.action, pr.author) == (7, "open", "fraud", "create", "neuroscale-bot")
    assert git("--git-dir", str(remote), "rev-parse", "--verify", "refs/heads/endpoint/fraud")


def test_rerun_updates_the_open_pull_request_instead_of_failing(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("propose_new", "add_label") as replay:
        gh = provider(tmp_path, remote, replay)
        first_head = gh.propose(proposal()).head_sha
    pushed_first = git("--git-dir", str(remote), "rev-parse", "refs/heads/endpoint/fraud")
    with Replay.from_files("propose_existing") as replay:
        gh = provider(tmp_path, remote, replay)
        pr = gh.propose(proposal("update", MANIFEST + b"  labels: {}\n"))
    assert replay.unexpected == [] and replay.remaining == 0
    assert [r["method"] for r in replay.requests] == ["GET", "PATCH", "GET"]  # no second POST, labelled already
    assert (pr.number, pr.title, pr.action) == (7, "endpoint: update fraud", "update")
    pushed_second = git("--git-dir", str(remote), "rev-parse", "refs/heads/endpoint/fraud")
    assert pushed_second != pushed_first and git("--git-dir", str(remote), "rev-parse", f"{pushed_second}^") == pushed_first
    assert first_head  # the recorded PR head


def test_concurrently_opened_pull_request_is_updated(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("propose_race") as replay:
        pr = provider(tmp_path, remote, replay).propose(proposal())
    assert replay.unexpected == [] and replay.remaining == 0 and pr.number == 7


def requested_labels(body: Any) -> list[str]:
    """The labels an "add labels to an issue" request asks for, in every body GitHub documents: an object with
    `labels` or the labels themselves, as an array or one string, each label a name or an object with `name`."""
    items = body.get("labels") if isinstance(body, dict) else body
    items = [items] if isinstance(items, str) else items
    return [item["name"] if isinstance(item, dict) else item for item in items]


def label_requests(replay: Replay) -> list[dict[str, Any]]:
    return [r for r in replay.requests if r["path"].endswith("/labels")]


def test_a_new_pull_request_is_labelled_for_its_preview(tmp_path: Path, remote: Path) -> None:
    """Cluster previews deploy labelled pull requests only (a fork's must not run its pickle by being opened);
    NeuroScale's authors are the platform's signed-in users, so it labels what it opens. A pull request is an
    issue: `POST /repos/{owner}/{repo}/issues/{number}/labels`."""
    with Replay.from_files("propose_new", "add_label") as replay:
        pr = provider(tmp_path, remote, replay).propose(proposal())
    assert replay.unexpected == [] and replay.remaining == 0 and pr.number == 7
    [label] = label_requests(replay)
    assert (label["method"], label["path"]) == ("POST", "/repos/acme/ml-platform/issues/7/labels")
    assert requested_labels(label["json"]) == [PREVIEW_LABEL]  # never empty: an empty list removes every label
    assert label["authorization"] == f"token {TOKEN}"


def test_an_open_pull_request_without_the_label_gets_it_when_proposed_again(tmp_path: Path, remote: Path) -> None:
    """Opened before previews asked for the label, or when labelling failed: the next proposal labels it."""
    exchanges = recorded("propose_existing")
    for exchange in exchanges:
        body = exchange["response"]["body"]
        for pull in body if isinstance(body, list) else [body]:
            pull["labels"] = []
    exchanges[2:2] = recorded("add_label")  # after the PATCH, before the pull request is read back
    with Replay(exchanges) as replay:
        pr = provider(tmp_path, remote, replay).propose(proposal("update", MANIFEST + b"  labels: {}\n"))
    assert replay.unexpected == [] and replay.remaining == 0 and pr.number == 7
    assert [r["method"] for r in replay.requests] == ["GET", "PATCH", "POST", "GET"]
    [label] = label_requests(replay)
    assert requested_labels(label["json"]) == [PREVIEW_LABEL]


@pytest.mark.parametrize(("status", "message"), [
    (403, "Resource not accessible by personal access token"),  # a fine-grained token without the permission
    (403, "Resource not accessible by integration"),  # a GitHub App without it
    (404, "Not Found"),
    (410, "Issues are disabled for this repo"),
    (422, "Validation Failed"),
])
def test_a_pull_request_that_cannot_be_labelled_stands_and_a_warning_says_how_to_fix_it(
        tmp_path: Path, remote: Path, caplog: pytest.LogCaptureFixture, status: int, message: str) -> None:
    exchanges = recorded("propose_new", "add_label_forbidden")
    refused = exchanges[-1]["response"]
    refused.update(status=status, body={**refused["body"], "message": message, "status": str(status)})
    with caplog.at_level(logging.WARNING, logger="neuroscale.gitops.github_provider"), Replay(exchanges) as replay:
        pr = provider(tmp_path, remote, replay).propose(proposal())
    assert replay.unexpected == [] and replay.remaining == 0
    assert (pr.number, pr.state, pr.endpoint) == (7, "open", "fraud")
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert "#7" in warning and PREVIEW_LABEL in warning and "no preview" in warning
    assert str(status) in warning and message in warning
    assert "issues: write" in warning and "pull_requests: write" in warning and "by hand" in warning
    assert TOKEN not in warning and f"{len(TOKEN)} characters" in warning


def test_bad_token_is_reported_by_length_never_by_value(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("bad_credentials") as replay:
        with pytest.raises(InvalidInput) as caught:
            provider(tmp_path, remote, replay).propose(proposal())
    text = f"{caught.value} {caught.value.to_dict()}"
    assert TOKEN not in text and f"{len(TOKEN)} characters" in text and TOKEN_ENV in text


def test_merge_through_the_api(tmp_path: Path, remote: Path) -> None:
    with Replay.from_files("propose_new", "add_label") as replay:
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
