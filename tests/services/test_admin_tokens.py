"""The gateway's admin file follows every change of users and tokens, through the real use cases and SQLite."""

from __future__ import annotations

import json
import stat

from neuroscale.identity.credential import digest
from neuroscale.identity.local_admin import ADMIN
from neuroscale.identity.roles import Permission, Role, roles_with
from neuroscale.services.context import PlatformContext
from neuroscale.services.identity import add_user, issue_token, remove_user, sign_in_with_token
from tests.services.conftest import ALICE


def admins(ctx: PlatformContext) -> dict[str, str]:
    """sha256 → user, as the gateway reads the file."""
    document = json.loads(ctx.home.admin_tokens_file.read_text())
    assert document["version"] == 1
    return {entry["sha256"]: entry["user"] for entry in document["admins"]}


def test_only_roles_that_administer_are_published() -> None:
    assert roles_with(Permission.administer) == (Role.admin,)
    assert roles_with(Permission.review) == (Role.approver, Role.admin)


def test_the_file_is_private_and_holds_the_home_admin_from_the_start(ctx: PlatformContext) -> None:
    assert stat.S_IMODE(ctx.home.admin_tokens_file.stat().st_mode) == 0o600
    secret = ctx.home.admin_token_file.read_text().strip()
    assert admins(ctx) == {digest(secret): ADMIN}
    assert secret not in ctx.home.admin_tokens_file.read_text()


def test_admin_tokens_come_and_go_with_their_users_and_others_never_appear(ctx: PlatformContext) -> None:
    home_admin = dict(admins(ctx))
    _, ann_token = add_user(ctx, "ann", Role.admin, actor=ALICE)
    _, bob_token = add_user(ctx, "bob", Role.author, actor=ALICE)
    _, vic_token = add_user(ctx, "vic", Role.approver, actor=ALICE)
    assert admins(ctx) == {**home_admin, digest(ann_token): "ann"}, "an author's or approver's token is no admin's"
    second = issue_token(ctx, "ann", actor=ALICE)
    assert admins(ctx) == {**home_admin, digest(ann_token): "ann", digest(second): "ann"}
    before = ctx.home.admin_tokens_file.stat().st_mtime_ns, admins(ctx)
    sign_in_with_token(ctx, bob_token)  # a browser session is no token: nothing is rewritten
    assert (ctx.home.admin_tokens_file.stat().st_mtime_ns, admins(ctx)) == before
    remove_user(ctx, "ann", actor=ALICE)
    assert admins(ctx) == home_admin
    assert digest(bob_token) not in admins(ctx) and digest(vic_token) not in admins(ctx)


def test_a_home_from_before_the_file_gets_it_when_opened(ctx: PlatformContext) -> None:
    expected = admins(ctx)
    ctx.home.admin_tokens_file.unlink()
    with PlatformContext.open(ctx.home) as reopened:
        assert admins(reopened) == expected


def test_a_replaced_local_admin_token_replaces_its_hash(ctx: PlatformContext) -> None:
    old = digest(ctx.home.admin_token_file.read_text().strip())
    ctx.home.admin_token_file.unlink()  # lost: the next opening issues a new one and revokes the old
    with PlatformContext.open(ctx.home) as reopened:
        new = digest(reopened.home.admin_token_file.read_text().strip())
        assert admins(reopened) == {new: ADMIN} and old != new
