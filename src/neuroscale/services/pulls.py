"""Pull-request use cases: list, show, check, approve, merge and close.

Why the merge gate lives here: whatever adapter asks (CLI, portal, demo), a
pull request merges only when every check passed on its current head and
enough people other than its author approved that head; a head pushed with
plain git is followed and checked before anything is decided. Roles decide
who may act: authors merge or close their own pull requests, approvers and
admins any.
"""

from __future__ import annotations

from dataclasses import replace

from neuroscale.errors import Conflict, Forbidden, InvalidInput
from neuroscale.gitops.provider import PR_STATES, PRState, PullRequest, review_base
from neuroscale.identity.roles import Actor, Permission
from neuroscale.services.audit import record
from neuroscale.services.context import PlatformContext, commit_author
from neuroscale.policy.bundled import model_root_policy
from neuroscale.services.pr_checks import describe_failures, run_checks
from neuroscale.services.recorded_inputs import with_recorded_inputs
from neuroscale.services.prediction_diff import CHECK_PREDICTIONS, changes_model, prediction_check, waiting
from neuroscale.services.review import review_of
from neuroscale.status.reasons import Reason


def run_pull_request_checks(ctx: PlatformContext, pr: PullRequest) -> PullRequest:
    """Run every check on the pull request's head and store the results for that head.

    A pull request that changes a model also gets `prediction-diff`, pending until its preview serves.
    """
    checks = run_checks(ctx.repo, base=review_base(ctx.repo, pr), head=pr.head_sha,
                        bundled=model_root_policy(ctx.home.model_roots()))
    if pr.number and changes_model(ctx, pr):
        checks.append(prediction_check(ctx, pr))
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
    elif pr.state == "open" and any(waiting(c) for c in pr.checks):
        checks = [prediction_check(ctx, pr) if c.name == CHECK_PREDICTIONS else c for c in pr.checks]
        if checks != list(pr.checks):
            pr = ctx.provider.record_checks(number, head_sha=pr.head_sha, checks=checks)
    return pr


def show_pull_request(ctx: PlatformContext, number: int, *, actor: Actor) -> PullRequest:
    """The pull request as `actor` reads it: `get_pull_request`, with the inputs of recorded requests its
    prediction diff refers to shown only to those who may read recordings (`recorded_inputs`)."""
    actor.require(Permission.read, to="read pull requests")
    return with_recorded_inputs(ctx.home, get_pull_request(ctx, number), actor=actor)


def _require_may_act_on(ctx: PlatformContext, actor: Actor, pr: PullRequest, *, to: str) -> None:
    """Authors act on their own pull requests; approvers and admins on any."""
    actor.require(Permission.propose, to=to)
    if ctx.provider.reviews_locally and pr.author != actor.name and not actor.can(Permission.review):
        raise Forbidden(f"{actor.name} ({actor.role}) may {to} only their own pull requests; "
                        f"#{pr.number} is {pr.author}'s", where=f"pull request #{pr.number}",
                        fix="ask an approver or admin")


def approve_pull_request(ctx: PlatformContext, number: int, *, actor: Actor,
                         head_sha: str | None = None) -> PullRequest:
    """Approve the pull request's current head (or `head_sha`, refused if the head moved since)."""
    actor.require(Permission.review, to="approve pull requests")
    pr = get_pull_request(ctx, number)
    if pr.author == actor.name:
        raise Forbidden(f"{actor.name} opened #{number} and cannot approve it", where=f"pull request #{number}",
                        fix="ask another approver: review means a second person")
    approved = ctx.provider.approve(number, user=actor.name, head_sha=head_sha or pr.head_sha)
    record(ctx, actor=actor, endpoint=pr.endpoint, reason=Reason.PullRequestApproved,
           message=f"approved #{number} at {approved.head_sha[:7]}: {pr.title}")
    return approved


def merge_pull_request(ctx: PlatformContext, number: int, *, actor: Actor) -> PullRequest:
    """Merge into main with a merge commit; Conflict while any check fails or approvals are missing."""
    pr = get_pull_request(ctx, number)
    _require_may_act_on(ctx, actor, pr, to="merge")
    if pr.state == "open" and not pr.checks_passed:
        failing = ", ".join(c.name for c in pr.failing_checks) or "checks have not run"
        raise Conflict(
            f"pull request #{number} cannot merge: failing checks: {failing}",
            where=f"pull request #{number} ({pr.branch} @ {pr.head_sha[:7]})",
            fix="\n".join([*(f"- {line}" for line in describe_failures(pr.checks)),
                           f"then propose the fixed endpoint again (it updates #{number}) to rerun the checks"]),
            details={"checks": [c.to_dict() for c in pr.checks]},
        )
    review = review_of(ctx, pr)
    if pr.state == "open" and ctx.provider.reviews_locally and review.missing:
        raise Conflict(
            f"pull request #{number} cannot merge: it needs {review.missing} more approval(s) of its head "
            f"{pr.head_sha[:7]} from someone other than {pr.author} ({len(review.approved_by)} of "
            f"{review.required})", where=f"pull request #{number}",
            fix=f"an approver runs `neuroscale pr approve {number}` (or approves it on its page)",
            details={"review": review.to_dict()})
    merged = ctx.provider.merge(number, author=commit_author(actor))
    record(ctx, actor=actor, endpoint=pr.endpoint, reason=Reason.PullRequestMerged,
           message=f"merged #{number} into main as {(merged.merged_sha or '')[:7]}: {pr.title}")
    return merged


def close_pull_request(ctx: PlatformContext, number: int, *, actor: Actor) -> PullRequest:
    """Close without merging and delete the branch."""
    _require_may_act_on(ctx, actor, ctx.provider.get(number), to="close")
    closed = ctx.provider.close(number)
    record(ctx, actor=actor, endpoint=closed.endpoint, reason=Reason.PullRequestClosed,
           message=f"closed #{number} without merging: {closed.title}")
    return closed
