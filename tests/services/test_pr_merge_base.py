"""A pull request is reviewed against the merge base of its head and main, as GitHub shows it.

On a real bare repository and SQLite: a pull request changes endpoint alpha; main then changes
endpoint beta's model; the branch takes main in (a merge commit, or a rebase onto it). Diffed against
the base the pull request was opened on, beta's change looked like the pull request's own, and the
prediction-diff check said it "also changes the model of beta".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.gitops.provider import PullRequest
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import create_endpoint, update_endpoint
from neuroscale.services.pulls import get_pull_request, merge_pull_request
from tests.services.conftest import ALICE, git, make_spec


def _opened(ctx: PlatformContext) -> PullRequest:
    """alpha and beta on main, a pull request changing alpha's memory, then beta's model changed on main."""
    for name in ("alpha", "beta"):
        merge_pull_request(ctx, create_endpoint(ctx, make_spec(name=name), actor=ALICE).number, actor=ALICE)
    pr = update_endpoint(ctx, make_spec(name="alpha", memoryLimit="2Gi"), actor=ALICE)
    beta = update_endpoint(ctx, make_spec(name="beta", storageUri="file:///models/iris/v2.joblib"), actor=ALICE)
    merge_pull_request(ctx, beta.number, actor=ALICE)
    return pr


def _mentions_beta(pr: PullRequest) -> list[str]:
    """What the checks say about beta, but for the schema check's note on every manifest it cannot validate."""
    return [f"{check.name}: {finding.get('message')}" for check in pr.checks for finding in check.findings
            if "beta" in f"{finding.get('message')} {finding.get('file')}" and check.name != "schema"]


@pytest.mark.parametrize("takes_main_in", [["merge", "--no-edit", "origin/main"], ["rebase", "origin/main"]],
                         ids=["merges-main", "rebased-onto-main"])
def test_main_taken_into_the_branch_is_not_the_pull_requests_change(ctx: PlatformContext, tmp_path: Path,
                                                                    takes_main_in: list[str]) -> None:
    pr = _opened(ctx)
    work = tmp_path / "clone"
    git("clone", "--quiet", "--branch", pr.branch, str(ctx.repo.path), str(work), cwd=tmp_path)
    git(*takes_main_in, cwd=work)
    git("push", "--quiet", "--force", "origin", f"HEAD:{pr.branch}", cwd=work)

    followed = get_pull_request(ctx, pr.number)
    assert followed.head_sha == git("rev-parse", "HEAD", cwd=work)
    assert ctx.repo.is_ancestor(str(ctx.repo.resolve("main")), followed.head_sha), "main is in the branch now"
    assert _mentions_beta(followed) == []
    assert "prediction-diff" not in {check.name for check in followed.checks}, "alpha's model did not change"
    assert followed.checks_passed


def test_a_branch_that_did_not_take_main_in_is_still_diffed_from_where_it_left(ctx: PlatformContext) -> None:
    """Main moving on alone changes nothing about what the pull request proposes."""
    followed = get_pull_request(ctx, _opened(ctx).number)
    assert _mentions_beta(followed) == [] and followed.checks_passed
