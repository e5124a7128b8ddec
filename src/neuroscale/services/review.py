"""Review before merge: how many approvals a pull request needs, and which it has.

Why the default follows the number of users: a platform run by one person has
nobody to ask, so it needs no approval; as soon as a second person can sign
in, four eyes become the rule (1 approval from someone other than the
author) unless an admin sets the number explicitly. Approvals count for the
head commit they were given on: pushing new commits asks for review again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.gitops.provider import PullRequest
from neuroscale.identity.roles import Actor, Permission
from neuroscale.services.audit import record
from neuroscale.services.context import PlatformContext
from neuroscale.status.reasons import Reason

REQUIRED_APPROVALS = "required_approvals"
MAX_REQUIRED_APPROVALS = 10


@dataclass(frozen=True)
class ReviewRules:
    required_approvals: int
    #: True while the number follows the default (0 with one user, 1 with more).
    automatic: bool

    def to_dict(self) -> dict[str, Any]:
        return {"required_approvals": self.required_approvals, "automatic": self.automatic}

    def __str__(self) -> str:
        how = "automatic: 0 with one user, 1 with more" if self.automatic else "set by an admin"
        return f"{self.required_approvals} approval(s) from someone other than the author ({how})"


def review_rules(ctx: PlatformContext) -> ReviewRules:
    configured = ctx.identity.setting(REQUIRED_APPROVALS)
    if configured is not None:
        return ReviewRules(int(configured), automatic=False)
    return ReviewRules(1 if ctx.identity.count_users() > 1 else 0, automatic=True)


def set_required_approvals(ctx: PlatformContext, value: int | None, *, actor: Actor) -> ReviewRules:
    """Require `value` approvals before merge; None returns to the automatic default."""
    actor.require(Permission.administer, to="change the review rules")
    if value is not None and not 0 <= value <= MAX_REQUIRED_APPROVALS:
        raise InvalidInput(f"{value} is not a number of approvals between 0 and {MAX_REQUIRED_APPROVALS}",
                           where="required approvals", fix="give a small whole number, or `auto`")
    ctx.identity.set_setting(REQUIRED_APPROVALS, None if value is None else str(value))
    rules = review_rules(ctx)
    record(ctx, actor=actor, reason=Reason.ReviewRulesChanged, message=f"merging now needs {rules}")
    return rules


@dataclass(frozen=True)
class Review:
    """Where a pull request stands on review."""

    required: int
    #: Users other than the author who approved the current head.
    approved_by: tuple[str, ...]

    @property
    def missing(self) -> int:
        return max(0, self.required - len(self.approved_by))

    def to_dict(self) -> dict[str, Any]:
        return {"required": self.required, "approved_by": list(self.approved_by), "missing": self.missing}


def review_of(ctx: PlatformContext, pr: PullRequest) -> Review:
    others = tuple(user for user in pr.approved_by if user != pr.author)
    return Review(review_rules(ctx).required_approvals, others)
