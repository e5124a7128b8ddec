"""Endpoint API keys: create, list and revoke the keys the gateway asks for.

Why keys are not reviewed while the opt-in is: whether an endpoint asks for a
key (`serving.neuroscale.io/require-api-key`) changes who can call it, so it is
a pull request; handing a key to one more caller is routine, like issuing a
personal token. Creating and revoking needs the role that may propose changes
to endpoints (author and up), listing the role that may read; each change is
an event naming its actor, never the key.

The database row, the gateway's key file and the audit event change in one
transaction: a key that could not be published is not created, and a revoked
key stops working as soon as the gateway re-reads the file (no restart).
"""

from __future__ import annotations

from dataclasses import dataclass

from neuroscale.errors import InvalidInput, NotFound
from neuroscale.gitops.repo import MAIN
from neuroscale.identity.api_keys import ApiKey
from neuroscale.identity.roles import Actor, Permission
from neuroscale.services.audit import record
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import current_manifest, validate_name
from neuroscale.services.prediction_diff import manifest_at
from neuroscale.spec import extensions, isvc
from neuroscale.status.reasons import Reason

__all__ = ["ApiKey", "CreatedKey", "create_key", "list_keys", "revoke_key"]

MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once, never stored
    enforced: bool  # main's manifest asks for keys already (else requests without one are still served)


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_DESCRIPTION or not text.isprintable():
        raise InvalidInput(f"the description is not one printable line of at most {MAX_DESCRIPTION} characters",
                           where="description", fix="describe who uses the key in a short line, e.g. 'billing job'")
    return text


def requires_keys_on_main(ctx: PlatformContext, endpoint: str) -> bool:
    """Whether the endpoint as merged asks for API keys (an invalid annotation asks for nothing yet)."""
    try:
        return extensions.require_api_key(isvc.read(manifest_at(ctx.repo, MAIN, endpoint)).annotations)
    except InvalidInput:
        return False


def create_key(ctx: PlatformContext, endpoint: str, *, description: str = "", actor: Actor) -> CreatedKey:
    """A new key for an endpoint that is on main or proposed; the key is returned once and never stored."""
    actor.require(Permission.propose, to=f"create API keys for endpoint {endpoint}")
    description = _description(description)
    current_manifest(ctx, validate_name(endpoint))  # NotFound for an endpoint nobody proposed
    with ctx.transaction():
        key, secret = ctx.api_keys.add(endpoint, description=description, created_by=actor.name)
        ctx.api_keys.publish(ctx.home.api_keys_file)
        record(ctx, actor=actor, endpoint=endpoint, reason=Reason.ApiKeyCreated,
               message=f"API key {key.id} created" + (f" ({description})" if description else ""))
    return CreatedKey(key, secret, enforced=requires_keys_on_main(ctx, endpoint))


def list_keys(ctx: PlatformContext, endpoint: str, *, actor: Actor) -> list[ApiKey]:
    """The endpoint's keys, oldest first: ids, descriptions and who made them; never the keys."""
    actor.require(Permission.read, to="list API keys")
    keys = ctx.api_keys.keys(validate_name(endpoint))
    if not keys:
        current_manifest(ctx, endpoint)  # an endpoint nobody proposed is NotFound, not an empty list
    return keys


def revoke_key(ctx: PlatformContext, endpoint: str, key_id: str, *, actor: Actor) -> ApiKey:
    """Delete a key; the gateway refuses it from its next reload of the key file."""
    actor.require(Permission.propose, to=f"revoke API keys of endpoint {endpoint}")
    validate_name(endpoint)
    with ctx.transaction():
        key = ctx.api_keys.remove(endpoint, key_id)
        if key is None:
            raise NotFound(f"endpoint {endpoint} has no API key {key_id[:40]!r}", where="key id",
                           fix=f"see its keys with `neuroscale endpoint key list {endpoint}`")
        ctx.api_keys.publish(ctx.home.api_keys_file)
        record(ctx, actor=actor, endpoint=endpoint, reason=Reason.ApiKeyRevoked, message=f"API key {key.id} revoked")
    return key
