"""Identity use cases: who is asking (tokens, login links, sessions, OpenID Connect) and user admin.

Why here: the portal, the CLI and the demo must establish an `Actor` the same
way, and user management must check the same role table as every other
change. Adapters hand in the secret they were given; they never read the
credential tables themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neuroscale.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from neuroscale.identity.local_admin import ADMIN, UnreadableCredential, read_secret
from neuroscale.identity.roles import Actor, Permission, Role, parse_role, validate_user_name
from neuroscale.identity.store import Issued, Kind, Resolved, User
from neuroscale.services.audit import record
from neuroscale.services.context import PlatformContext
from neuroscale.status.reasons import Reason

#: Adapters import these from here, with the use cases below.
__all__ = ["Actor", "Issued", "Resolved", "Role", "parse_role"]

#: A personal token for the CLI (and scripts) when not signing in as the home's admin.
TOKEN_ENV = "NEUROSCALE_TOKEN"
#: A one-time login link stays valid this long (or until used).
LOGIN_LINK_TTL_S = 24 * 3600.0
#: A browser session lasts this long from sign-in.
SESSION_TTL_S = 12 * 3600.0


def _unknown_token(where: str) -> Unauthenticated:
    return Unauthenticated("the token is unknown, revoked or belongs to a removed user", where=where,
                           fix="ask an admin for a new one (`neuroscale user token NAME`)")


def actor_for_token(ctx: PlatformContext, token: str, *, where: str = "Authorization") -> Actor:
    """The owner of a personal API token (`Authorization: Bearer …`, `NEUROSCALE_TOKEN`)."""
    found = ctx.identity.resolve(token.strip(), Kind.token) if token.strip() else None
    if found is None:
        raise _unknown_token(where)
    return found.user.actor


def cli_actor(ctx: PlatformContext) -> Actor:
    """Who runs this command: `NEUROSCALE_TOKEN` if set, else the home's admin credential."""
    token = os.environ.get(TOKEN_ENV, "")
    if token.strip():
        return actor_for_token(ctx, token, where=TOKEN_ENV)
    path = ctx.home.admin_token_file
    try:
        secret = read_secret(path)
    except UnreadableCredential as exc:
        raise Unauthenticated(str(exc), where=str(path),
                              fix=f"run as the home's owner, or set {TOKEN_ENV} to your personal token") from None
    if secret is None:
        raise Unauthenticated("no credential: the home has no admin token file", where=str(path),
                              fix=f"set {TOKEN_ENV} to your personal token")
    return actor_for_token(ctx, secret, where=str(path))


# -- browser sign-in -----------------------------------------------------------------------


def issue_login_link(ctx: PlatformContext, *, actor: Actor) -> str:
    """A one-time secret for `/login?token=…` that signs `actor` in to the portal."""
    return ctx.identity.issue(actor.name, Kind.login, ttl_s=LOGIN_LINK_TTL_S, label="login link").secret


def sign_in_with_link(ctx: PlatformContext, secret: str) -> Issued:
    found = ctx.identity.consume(secret, Kind.login)
    if found is None:
        raise Unauthenticated("this login link was already used or has expired", where="login link",
                              fix="get a new one with `neuroscale login-link`, or sign in with your token")
    return _open_session(ctx, found.user)


def sign_in_with_token(ctx: PlatformContext, token: str) -> Issued:
    found = ctx.identity.resolve(token.strip(), Kind.token) if token.strip() else None
    if found is None:
        raise _unknown_token("token")
    return _open_session(ctx, found.user)


@dataclass(frozen=True)
class OidcMapping:
    """How ID-token claims name a NeuroScale user."""

    username_claim: str = "preferred_username"
    #: Role for a signed-in person with no user yet; None refuses them until an admin adds them.
    default_role: Role | None = None


def sign_in_with_oidc(ctx: PlatformContext, claims: Mapping[str, Any], mapping: OidcMapping) -> Issued:
    """Open a session for the user an ID token names (claims already verified by the OIDC client)."""
    raw = claims.get(mapping.username_claim)
    if not isinstance(raw, str) or not raw:
        raise Unauthenticated(f"the identity provider sent no {mapping.username_claim!r} claim",
                              where="OpenID Connect", fix="configure the provider to send it, or choose another "
                              "claim with --oidc-username-claim")
    name = raw.split("@", 1)[0].lower() if mapping.username_claim == "email" else raw.lower()
    try:
        validate_user_name(name, where=mapping.username_claim)
    except InvalidInput as exc:
        raise Unauthenticated(exc.message, where="OpenID Connect", fix=exc.fix) from None
    user = ctx.identity.user(name)
    if user is None:
        if mapping.default_role is None:
            raise Forbidden(f"{name} signed in with the identity provider but is not a NeuroScale user",
                            where="OpenID Connect", fix=f"ask an admin to run `neuroscale user add {name} --role …`")
        user = ctx.identity.add_user(name, mapping.default_role, email=str(claims.get("email") or ""),
                                     created_by="OpenID Connect")
        record(ctx, actor=user.actor, reason=Reason.UserAdded,
               message=f"{name} added as {user.role} on first OpenID Connect sign-in")
    return _open_session(ctx, user)


def _open_session(ctx: PlatformContext, user: User) -> Issued:
    ctx.identity.purge_expired()
    return ctx.identity.issue(user.name, Kind.session, ttl_s=SESSION_TTL_S, label="browser session")


def session(ctx: PlatformContext, secret: str) -> Resolved | None:
    """The signed-in user and the session's CSRF token, or None for an unknown or expired session."""
    return ctx.identity.resolve(secret, Kind.session) if secret else None


def sign_out(ctx: PlatformContext, secret: str) -> None:
    ctx.identity.revoke(secret, Kind.session)


# -- user administration -------------------------------------------------------------------


@dataclass(frozen=True)
class UserView:
    user: User
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.user.to_dict(), "tokens": self.tokens}


def add_user(ctx: PlatformContext, name: str, role: Role, *, email: str = "", actor: Actor) -> tuple[User, str]:
    """Add a user and issue their first personal token (returned once, never stored)."""
    actor.require(Permission.administer, to="add users")
    validate_user_name(name)
    with ctx.identity.transaction():
        user = ctx.identity.add_user(name, role, email=email, created_by=actor.name)
        token = ctx.identity.issue(name, Kind.token, label="personal token").secret
        record(ctx, actor=actor, reason=Reason.UserAdded, message=f"{name} added as {role}")
    return user, token


def issue_token(ctx: PlatformContext, name: str, *, actor: Actor) -> str:
    """Another personal token for `name` (an admin's, or your own)."""
    if name != actor.name:
        actor.require(Permission.administer, to=f"issue tokens for {name}")
    if ctx.identity.user(name) is None:
        raise NotFound(f"no user named {name}", where="users", fix="list users with `neuroscale user list`")
    return ctx.identity.issue(name, Kind.token, label="personal token").secret


def list_users(ctx: PlatformContext, *, actor: Actor) -> list[UserView]:
    actor.require(Permission.read, to="list users")
    return [UserView(user, ctx.identity.token_count(user.name)) for user in ctx.identity.users()]


def remove_user(ctx: PlatformContext, name: str, *, actor: Actor) -> None:
    """Remove a user with every token and session they hold; their past actions stay in the audit trail."""
    actor.require(Permission.administer, to="remove users")
    if name == ADMIN:
        raise Conflict(f"{ADMIN} is the home's own admin (its token is {ctx.home.admin_token_file})",
                       where="users", fix="remove other users; the local admin goes with the home")
    with ctx.identity.transaction():
        ctx.identity.remove_user(name)
        record(ctx, actor=actor, reason=Reason.UserRemoved, message=f"{name} removed")
