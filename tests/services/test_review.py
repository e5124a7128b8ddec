"""Roles and review before merge, over a real home: who may propose, approve, merge and close, and the audit trail."""

from __future__ import annotations

import pytest

from neuroscale.errors import Conflict, Forbidden, InvalidInput, NotFound
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import create_endpoint, delete_endpoint, update_endpoint
from neuroscale.services.identity import Actor, Role, add_user, cli_actor, list_users, remove_user
from neuroscale.services.pulls import approve_pull_request, close_pull_request, get_pull_request, merge_pull_request
from neuroscale.services.review import review_of, review_rules, set_required_approvals

from .conftest import make_spec


def _team(ctx: PlatformContext) -> dict[str, Actor]:
    admin = cli_actor(ctx)
    team = {"admin": admin}
    for name, role in (("vic", Role.viewer), ("ann", Role.author), ("abe", Role.author), ("pam", Role.approver),
                       ("pia", Role.approver)):
        user, _ = add_user(ctx, name, role, actor=admin)
        team[name] = user.actor
    return team


def test_one_user_needs_no_approval_and_a_second_user_makes_it_one(ctx: PlatformContext) -> None:
    admin = cli_actor(ctx)
    assert (admin.name, admin.role) == ("admin", Role.admin)
    assert review_rules(ctx).required_approvals == 0 and review_rules(ctx).automatic
    first = create_endpoint(ctx, make_spec(), actor=admin)
    assert review_of(ctx, first).missing == 0

    add_user(ctx, "pam", Role.approver, actor=admin)
    assert review_rules(ctx).required_approvals == 1
    with pytest.raises(Conflict) as refused:
        merge_pull_request(ctx, first.number, actor=admin)
    assert "1 more approval" in refused.value.message and "pr approve" in refused.value.fix
    assert refused.value.details["review"] == {"required": 1, "approved_by": [], "missing": 1}

    set_required_approvals(ctx, 0, actor=admin)
    assert not review_rules(ctx).automatic and merge_pull_request(ctx, first.number, actor=admin).state == "merged"
    set_required_approvals(ctx, None, actor=admin)
    assert review_rules(ctx).automatic and review_rules(ctx).required_approvals == 1


def test_roles_decide_who_proposes_approves_merges_and_closes(ctx: PlatformContext) -> None:
    team = _team(ctx)
    with pytest.raises(Forbidden) as viewer:
        create_endpoint(ctx, make_spec(), actor=team["vic"])
    assert "vic (viewer) may not propose endpoints" in viewer.value.message and "author" in viewer.value.fix

    pr = create_endpoint(ctx, make_spec(), actor=team["ann"])
    assert pr.author == "ann"
    with pytest.raises(Forbidden):  # authors do not review
        approve_pull_request(ctx, pr.number, actor=team["abe"])
    with pytest.raises(Forbidden, match="only their own"):  # nor merge other people's pull requests
        merge_pull_request(ctx, pr.number, actor=team["abe"])
    with pytest.raises(Forbidden, match="only their own"):
        close_pull_request(ctx, pr.number, actor=team["abe"])
    with pytest.raises(Forbidden, match="only its author adds commits"):
        update_endpoint(ctx, make_spec(cpuLimit="2"), actor=team["pam"])
    with pytest.raises(Conflict, match="needs 1 more approval"):  # the author's own, without review
        merge_pull_request(ctx, pr.number, actor=team["ann"])

    approved = approve_pull_request(ctx, pr.number, actor=team["pam"])
    assert approved.approved_by == ["pam"] and review_of(ctx, approved).missing == 0
    merged = merge_pull_request(ctx, pr.number, actor=team["ann"])  # an author with enough approvals
    assert (merged.state, merged.merged_by) == ("merged", "ann")

    removal = delete_endpoint(ctx, "demo-iris", actor=team["pia"])
    with pytest.raises(Forbidden, match="cannot approve it"):
        approve_pull_request(ctx, removal.number, actor=team["pia"])
    closed = close_pull_request(ctx, removal.number, actor=team["pam"])  # approvers close anyone's
    assert closed.state == "closed"


def test_approvals_count_for_the_head_they_were_given_on(ctx: PlatformContext) -> None:
    team = _team(ctx)
    pr = create_endpoint(ctx, make_spec(), actor=team["ann"])
    approve_pull_request(ctx, pr.number, actor=team["pam"])
    approve_pull_request(ctx, pr.number, actor=team["pam"])  # approving twice is one approval
    moved = update_endpoint(ctx, make_spec(cpuLimit="2"), actor=team["ann"])
    assert moved.head_sha != pr.head_sha and moved.approved_by == []
    assert [(a.user, a.head_sha) for a in moved.approvals] == [("pam", pr.head_sha)]
    with pytest.raises(Conflict, match="needs 1 more approval"):
        merge_pull_request(ctx, pr.number, actor=team["ann"])
    with pytest.raises(Conflict, match="changed"):  # an approval of what the reviewer saw, not of what is there now
        approve_pull_request(ctx, pr.number, actor=team["pia"], head_sha=pr.head_sha)

    shown = get_pull_request(ctx, pr.number)
    assert [run.head_sha for run in shown.earlier_check_runs] == [pr.head_sha]
    assert [c.name for c in shown.earlier_check_runs[0].checks] == [c.name for c in pr.checks]
    set_required_approvals(ctx, 2, actor=team["admin"])
    approve_pull_request(ctx, pr.number, actor=team["pam"])
    with pytest.raises(Conflict, match=r"1 more approval.*\(1 of 2\)"):
        merge_pull_request(ctx, pr.number, actor=team["pia"])
    approve_pull_request(ctx, pr.number, actor=team["pia"])
    assert merge_pull_request(ctx, pr.number, actor=team["pia"]).merged_by == "pia"


def test_user_admin_is_for_admins_and_removal_revokes(ctx: PlatformContext) -> None:
    team = _team(ctx)
    with pytest.raises(Forbidden):
        add_user(ctx, "eve", Role.admin, actor=team["pam"])
    with pytest.raises(Forbidden):
        set_required_approvals(ctx, 0, actor=team["pam"])
    with pytest.raises(InvalidInput):
        add_user(ctx, "Not A Name", Role.viewer, actor=team["admin"])
    with pytest.raises(InvalidInput):
        set_required_approvals(ctx, 99, actor=team["admin"])
    with pytest.raises(Conflict):
        add_user(ctx, "pam", Role.viewer, actor=team["admin"])
    with pytest.raises(Conflict, match="home's own admin"):
        remove_user(ctx, "admin", actor=team["admin"])
    assert {v.user.name: (v.user.role, v.tokens) for v in list_users(ctx, actor=team["vic"])}["pam"] == (
        Role.approver, 1)

    remove_user(ctx, "pam", actor=team["admin"])
    with pytest.raises(NotFound):
        remove_user(ctx, "pam", actor=team["admin"])
    assert "pam" not in [v.user.name for v in list_users(ctx, actor=team["admin"])]


def test_every_change_records_its_actor(ctx: PlatformContext) -> None:
    team = _team(ctx)
    pr = create_endpoint(ctx, make_spec(), actor=team["ann"])
    update_endpoint(ctx, make_spec(cpuLimit="2"), actor=team["ann"])
    approve_pull_request(ctx, pr.number, actor=team["pam"])
    merge_pull_request(ctx, pr.number, actor=team["pia"])
    trail = [(e.reason, e.actor) for e in ctx.events.events(name="demo-iris")]
    assert trail == [("PullRequestOpened", "ann"), ("PullRequestUpdated", "ann"), ("PullRequestApproved", "pam"),
                     ("PullRequestMerged", "pia")]
    platform = [(e.reason, e.actor, e.message) for e in ctx.events.events() if not e.endpoint]
    assert ("UserAdded", "admin", "pam added as approver") in platform
