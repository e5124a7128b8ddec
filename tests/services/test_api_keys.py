"""Endpoint API keys over a real home: roles, hashes only, the gateway's key file, audit events, and the CLI."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from neuroscale.errors import Forbidden, InvalidInput, NotFound
from neuroscale.gateway.api_keys import KeyRing
from neuroscale.home import Home
from neuroscale.services.api_keys import create_key, list_keys, revoke_key
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import RawManifest, create_endpoint
from neuroscale.services.identity import Role, add_user, cli_actor
from neuroscale.services.pulls import merge_pull_request
from neuroscale.spec.extensions import REQUIRE_API_KEY
from neuroscale.spec.manifest import to_manifest

from .conftest import ALICE, make_spec
from .test_cli import CREATE, run
from .test_cli_identity import home  # noqa: F401 - fixture: NEUROSCALE_HOME set, no NEUROSCALE_TOKEN


def key_file(home: Home) -> dict[str, list[dict[str, str]]]:
    return dict(json.loads(home.api_keys_file.read_text())["endpoints"])


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_keys_are_stored_hashed_and_published_for_the_gateway(ctx: PlatformContext) -> None:
    create_endpoint(ctx, make_spec(), actor=ALICE)
    first = create_key(ctx, "demo-iris", description="billing job", actor=ALICE)
    second = create_key(ctx, "demo-iris", actor=ALICE)
    assert first.secret.startswith("nsk_") and len(first.secret) > 40 and first.secret != second.secret
    assert not first.enforced, "main has no such endpoint yet, let alone the annotation"
    assert stat.S_IMODE(ctx.home.api_keys_file.stat().st_mode) == 0o600
    assert key_file(ctx.home) == {"demo-iris": [{"id": first.key.id, "sha256": sha256(first.secret)},
                                                {"id": second.key.id, "sha256": sha256(second.secret)}]}
    database = b"".join(path.read_bytes() for path in ctx.home.root.glob("state.db*"))  # with the WAL
    assert first.secret.encode() not in database and sha256(first.secret).encode() in database

    ring = KeyRing(ctx.home.api_keys_file)  # what the gateway reads admits exactly these keys
    assert ring.refresh()
    assert ring.admits("demo-iris", [f"Bearer {first.secret}"]) and not ring.admits("other", [f"Bearer {first.secret}"])

    listed = list_keys(ctx, "demo-iris", actor=ALICE)
    assert [(k.id, k.description, k.created_by) for k in listed] == [(first.key.id, "billing job", "alice"),
                                                                    (second.key.id, "", "alice")]
    assert revoke_key(ctx, "demo-iris", first.key.id, actor=ALICE) == first.key
    assert key_file(ctx.home) == {"demo-iris": [{"id": second.key.id, "sha256": sha256(second.secret)}]}
    assert ring.refresh() and not ring.admits("demo-iris", [f"Bearer {first.secret}"])

    trail = [(e.reason, e.actor, e.message) for e in ctx.events.events(name="demo-iris") if "ApiKey" in e.reason]
    assert trail == [("ApiKeyCreated", "alice", f"API key {first.key.id} created (billing job)"),
                     ("ApiKeyCreated", "alice", f"API key {second.key.id} created"),
                     ("ApiKeyRevoked", "alice", f"API key {first.key.id} revoked")]


def test_authors_manage_keys_viewers_only_list_them(ctx: PlatformContext) -> None:
    admin = cli_actor(ctx)
    create_endpoint(ctx, make_spec(), actor=admin)
    viewer = add_user(ctx, "vic", Role.viewer, actor=admin)[0].actor
    author = add_user(ctx, "ann", Role.author, actor=admin)[0].actor
    with pytest.raises(Forbidden) as refused:
        create_key(ctx, "demo-iris", actor=viewer)
    assert "vic (viewer) may not create API keys for endpoint demo-iris" in refused.value.message
    made = create_key(ctx, "demo-iris", actor=author)
    assert [k.id for k in list_keys(ctx, "demo-iris", actor=viewer)] == [made.key.id]
    with pytest.raises(Forbidden):
        revoke_key(ctx, "demo-iris", made.key.id, actor=viewer)
    assert len(key_file(ctx.home)["demo-iris"]) == 1, "a refused revoke changes nothing"
    revoke_key(ctx, "demo-iris", made.key.id, actor=author)
    assert key_file(ctx.home) == {}


def test_bad_requests_change_nothing(ctx: PlatformContext) -> None:
    with pytest.raises(NotFound, match="endpoint ghost is not on main"):
        create_key(ctx, "ghost", actor=ALICE)
    with pytest.raises(NotFound):
        list_keys(ctx, "ghost", actor=ALICE)
    with pytest.raises(InvalidInput, match="not a valid endpoint name"):
        create_key(ctx, "Not/A/Name", actor=ALICE)
    create_endpoint(ctx, make_spec(), actor=ALICE)
    for description in ("x" * 201, "two\nlines", "bell\x07"):
        with pytest.raises(InvalidInput) as bad:
            create_key(ctx, "demo-iris", description=description, actor=ALICE)
        assert bad.value.where == "description"
    with pytest.raises(NotFound) as unknown:
        revoke_key(ctx, "demo-iris", "0123456789ab", actor=ALICE)
    assert "endpoint demo-iris has no API key '0123456789ab'" in unknown.value.message
    assert "neuroscale endpoint key list demo-iris" in unknown.value.fix
    assert not ctx.home.api_keys_file.exists() and list_keys(ctx, "demo-iris", actor=ALICE) == []
    assert not [e for e in ctx.events.events() if "ApiKey" in e.reason]


def test_a_key_says_whether_main_requires_keys_yet(ctx: PlatformContext) -> None:
    manifest = to_manifest(make_spec())
    manifest["metadata"]["annotations"] = {REQUIRE_API_KEY: "true"}
    pr = create_endpoint(ctx, RawManifest.parse(json.dumps(manifest)), actor=ALICE)
    assert not create_key(ctx, "demo-iris", actor=ALICE).enforced, "proposed, not merged"
    merge_pull_request(ctx, pr.number, actor=ALICE)
    assert create_key(ctx, "demo-iris", actor=ALICE).enforced


def test_cli_create_list_revoke(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *CREATE)[0] == 0
    code, out, err = run(capsys, "endpoint", "key", "create", "demo-iris", "--description", "nightly batch")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("nsk_") and out == key + "\n", "stdout is the key alone"
    assert key not in err and "shown once" in err
    assert 'curl -H "Authorization: Bearer $KEY"' in err and "/v1/models/demo-iris:predict" in err
    assert f'{REQUIRE_API_KEY}: "true"' in err, "a key for an endpoint that does not ask for keys yet says so"
    [listed] = key_file(home)["demo-iris"]
    assert listed["sha256"] == sha256(key)

    code, out, _ = run(capsys, "endpoint", "key", "list", "demo-iris", "-o", "json")
    [shown] = json.loads(out)
    assert code == 0 and shown == {"id": listed["id"], "endpoint": "demo-iris", "description": "nightly batch",
                                   "createdAt": shown["createdAt"], "createdBy": "admin"}
    for fmt in ("table", "yaml"):
        code, out, _ = run(capsys, "endpoint", "key", "list", "demo-iris", "-o", fmt)
        assert code == 0 and listed["id"] in out and "nightly batch" in out
        assert key not in out and "nsk_" not in out and listed["sha256"] not in out

    code, out, err = run(capsys, "endpoint", "key", "revoke", "demo-iris", "feedfacecafe")
    assert code == 1 and out == ""
    assert "endpoint demo-iris has no API key 'feedfacecafe'" in err and "Traceback" not in err
    code, out, _ = run(capsys, "endpoint", "key", "revoke", "demo-iris", listed["id"])
    assert code == 0 and f"revoked API key {listed['id']} of demo-iris" in out
    assert key_file(home) == {}
    code, out, _ = run(capsys, "endpoint", "key", "list", "demo-iris", "-o", "json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "endpoint", "key", "create", "ghost")
    assert code == 1 and "endpoint ghost is not on main" in err
