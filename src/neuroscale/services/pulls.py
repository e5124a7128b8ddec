"""Pull-request use cases: list, show, check, merge and close.

Why the merge gate lives here: whatever adapter asks (CLI, portal, demo), a
pull request merges only when every check passed on its current head; a head
pushed with plain git is followed and checked before anything is decided.
"""

from __future__ import annotations

from dataclasses import replace

from neuroscale.errors import Conflict, InvalidInput
from neuroscale.gitops.provider import PR_STATES, PRState, PullRequest
from neuroscale.gitops.repo import Author
from neuroscale.services.context import PlatformContext
from neuroscale.services.pr_checks import describe_failures, run_checks


def run_pull_request_checks(ctx: PlatformContext, pr: PullRequest) -> PullRequest:
    """Run every check on the pull request's head and store the results for that head."""
    checks = run_checks(ctx.repo, base=pr.base_sha, head=pr.head_sha)
    if not pr.number:  # a branch pushed to a remote with no pull-request API: report, nothing to store
        return replace(pr, checks=tuple(checks))
    return ctx.provider.record_checks(pr.number, head_sha=pr.head_sha, checks=checks)


def list_pull_requests(ctx: PlatformContext, *, state: str | None = None) -> list[PullRequest]:
    if state is not None and state not in PR_STATES:
        raise InvalidInput(f"unknown pull request state {state!r}", where="state",
                           fix=f"use one of {', '.join(PR_STATES)}")
    chosen: PRState | None = state  # type: ignore[assignment]  # checked against PR_STATES above
    # Open pull requests follow their branch, so a head pushed with plain git shows (and is checked) here too.
    return [get_pull_request(ctx, pr.number) if pr.state == "open" and pr.number else pr
            for pr in ctx.provider.list(state=chosen)]


def get_pull_request(ctx: PlatformContext, number: int) -> PullRequest:
    """The pull request, following its branch; checks run if its head has none yet, or could not run."""
    pr = ctx.provider.refresh(number)
    if pr.state == "open" and (not pr.checks or any(c.status == "error" for c in pr.checks)):
        pr = run_pull_request_checks(ctx, pr)
    return pr


def merge_pull_request(ctx: PlatformContext, number: int, *, author: Author) -> PullRequest:
    """Merge into main with a merge commit; Conflict while any check fails or has not run."""
    pr = get_pull_request(ctx, number)
    if pr.state == "open" and not pr.checks_passed:
        failing = ", ".join(c.name for c in pr.failing_checks) or "checks have not run"
        raise Conflict(
            f"pull request #{number} cannot merge: failing checks: {failing}",
            where=f"pull request #{number} ({pr.branch} @ {pr.head_sha[:7]})",
            fix="\n".join([*(f"- {line}" for line in describe_failures(pr.checks)),
                           f"then propose the fixed endpoint again (it updates #{number}) to rerun the checks"]),
            details={"checks": [c.to_dict() for c in pr.checks]},
        )
    return ctx.provider.merge(number, author=author)


def close_pull_request(ctx: PlatformContext, number: int) -> PullRequest:
    """Close without merging and delete the branch."""
    return ctx.provider.close(number)
