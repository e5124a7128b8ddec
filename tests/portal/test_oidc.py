"""OpenID Connect sign-in against a real provider process (`oidc-provider-mock`, built on Authlib's server).

The portal discovers the provider, sends the browser there with state, nonce
and PKCE, exchanges the code and verifies the ID token (signature, issuer,
audience, nonce) with Authlib; the claims then name a NeuroScale user.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from neuroscale.errors import Forbidden, Unauthenticated
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.services.identity import OidcMapping, Role, sign_in_with_oidc
from tests.conftest import free_port, running
from tests.portal.conftest import Portal

OLGA = {"sub": "u-olga", "preferred_username": "olga", "email": "olga@example.com"}


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--require-nonce", "true",
            "--user-claims", json.dumps(OLGA)]
    with running(argv, ready_url=f"{url}/.well-known/openid-configuration"):
        yield url


@pytest.fixture(scope="module")
def oidc_portal(tmp_path_factory: pytest.TempPathFactory, provider: str, iris_model: Path) -> Iterator[Portal]:
    home = Home(tmp_path_factory.mktemp("oidc-home"))
    PlatformContext.open(home, create=True).close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "neuroscale.portal", "--home", str(home.root), "--port", str(port),
            "--oidc-issuer", provider, "--oidc-client-id", "neuroscale-portal", "--oidc-default-role", "viewer"]
    env = {**os.environ, "NEUROSCALE_OIDC_CLIENT_SECRET": "s3cret-never-on-a-command-line"}
    with running(argv, ready_url=f"{url}/healthz", env=env):
        portal = Portal(url=url, home=home, model=iris_model)
        portal.add_user("olga", "approver")
        yield portal


def _sign_in_at_provider(portal: Portal, sub: str, *, next_path: str = "/pulls") -> tuple[httpx.Client, str]:
    """Start at the portal, sign in at the provider as `sub`; returns the browser and the callback URL."""
    browser = httpx.Client(timeout=30.0, follow_redirects=False)
    start = browser.get(f"{portal.url}/auth/oidc/start", params={"next": next_path})
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    assert "code_challenge=" in authorize and "nonce=" in authorize and "state=" in authorize
    assert browser.get(authorize).status_code == 200  # the provider's sign-in form
    back = browser.post(authorize, data={"sub": sub})
    assert back.status_code == 302 and back.headers["location"].startswith(f"{portal.url}/auth/oidc/callback?")
    return browser, back.headers["location"]


def test_a_known_user_signs_in_through_the_identity_provider(oidc_portal: Portal) -> None:
    page = httpx.get(f"{oidc_portal.url}/login", timeout=30.0)
    assert 'id="oidc-sign-in"' in page.text
    browser, callback = _sign_in_at_provider(oidc_portal, "u-olga")
    try:
        landed = browser.get(callback)
        assert landed.status_code == 200 and 'url=/pulls"' in landed.text, landed.text
        assert "ns_session" in browser.cookies
        me = browser.get(f"{oidc_portal.url}/api/me")
        assert me.json() == {"name": "olga", "role": "approver"}
        replayed = browser.get(callback)  # the code and state are single-use
        assert replayed.status_code == 401 and "ns_session" not in replayed.headers.get("set-cookie", "")
    finally:
        browser.close()


def test_a_new_person_gets_the_default_role(oidc_portal: Portal, provider: str) -> None:
    assert httpx.put(f"{provider}/users/u-nina", json={"preferred_username": "nina"}).status_code == 204
    browser, callback = _sign_in_at_provider(oidc_portal, "u-nina")
    try:
        assert browser.get(callback).status_code == 200
        assert browser.get(f"{oidc_portal.url}/api/me").json() == {"name": "nina", "role": "viewer"}
    finally:
        browser.close()
    nameless, callback = _sign_in_at_provider(oidc_portal, "nameless@example.com")  # the mock's claims: email
    try:
        landed = nameless.get(callback)
        assert landed.status_code == 401 and "preferred_username" in unescape(landed.text)
    finally:
        nameless.close()


def test_a_forged_callback_is_refused(oidc_portal: Portal) -> None:
    browser, callback = _sign_in_at_provider(oidc_portal, "u-olga")
    try:
        forged = re.sub(r"state=[^&]+", "state=forged", callback)
        refused = browser.get(forged)
        assert refused.status_code == 401 and "ns_session" not in browser.cookies
    finally:
        browser.close()


def test_claims_map_to_users(tmp_path: Path) -> None:
    with PlatformContext.open(Home(tmp_path / "home"), create=True) as ctx:
        refused = OidcMapping()
        with pytest.raises(Forbidden, match="not a NeuroScale user"):
            sign_in_with_oidc(ctx, {"preferred_username": "zed"}, refused)
        with pytest.raises(Unauthenticated, match="no 'preferred_username' claim"):
            sign_in_with_oidc(ctx, {"sub": "x"}, refused)
        with pytest.raises(Unauthenticated, match="not a valid user name"):
            sign_in_with_oidc(ctx, {"preferred_username": "../admin"}, refused)
        by_email = OidcMapping(username_claim="email", default_role=Role.author)
        session = sign_in_with_oidc(ctx, {"email": "Zed@Example.com"}, by_email)
        assert session.user == "zed" and ctx.identity.user("zed").role is Role.author  # type: ignore[union-attr]
        assert [e.reason for e in ctx.events.events()][-1] == "UserAdded"
