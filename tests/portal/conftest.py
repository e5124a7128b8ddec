"""One real portal process (`python -m neuroscale.portal`) over a fresh platform home, shared by the portal tests.

Clients sign in the ways people do: `client` with the home's admin token as a
bearer token (the REST API), `session` with a one-time login link and the
session's CSRF token (the pages, as a browser would submit them).
"""

from __future__ import annotations

import html
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.identity.local_admin import read_secret
from neuroscale.services.identity import actor_for_token, add_user, issue_login_link, parse_role, remove_user
from neuroscale.services.review import set_required_approvals
from tests.conftest import free_port, running

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass(frozen=True)
class Portal:
    url: str
    home: Home
    model: Path

    @property
    def admin_token(self) -> str:
        return self.home.admin_token_file.read_text().strip()

    def spec(self, name: str, /, **overrides: Any) -> dict[str, Any]:
        """A valid endpoint body for `name`, serving the iris model."""
        body: dict[str, Any] = {"name": name, "owner": "team-ml", "costCenter": "cc-42", "modelFormat": "sklearn",
                                "storageUri": self.model.as_uri(), "cpuRequest": "100m", "cpuLimit": "1",
                                "memoryRequest": "128Mi", "memoryLimit": "512Mi"}
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def git_state(self) -> tuple[list[str], list[int]]:
        """Branches in the GitOps repository and numbers of recorded pull requests, read directly."""
        with PlatformContext.open(self.home) as ctx:
            return sorted(ctx.repo.branches()), sorted(pull.number for pull in ctx.provider.list())

    def login_link(self, token: str | None = None) -> str:
        """A one-time login link for the token's owner (default: the admin), as `neuroscale login-link` prints."""
        with PlatformContext.open(self.home) as ctx:
            secret = issue_login_link(ctx, actor=actor_for_token(ctx, token or self.admin_token))
        return f"{self.url}/login?token={secret}"

    def add_user(self, name: str, role: str) -> str:
        """Add a user as the admin; returns their personal token."""
        with PlatformContext.open(self.home) as ctx:
            _, token = add_user(ctx, name, parse_role(role), actor=actor_for_token(ctx, self.admin_token))
        return token

    def remove_user(self, name: str) -> None:
        with PlatformContext.open(self.home) as ctx:
            remove_user(ctx, name, actor=actor_for_token(ctx, self.admin_token))

    def bearer(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, follow_redirects=False,
                            headers={"Authorization": f"Bearer {token or self.admin_token}"})

    def signed_in(self, token: str | None = None) -> httpx.Client:
        """A browser-like client: session cookie from a login link; changes carry Origin and the CSRF token."""
        http = httpx.Client(base_url=self.url, timeout=30.0, follow_redirects=False)
        landing = http.get(self.login_link(token))
        assert landing.status_code == 200 and "ns_session" in http.cookies, landing.text
        csrf = _CSRF.search(http.get("/new").text)
        assert csrf, "the form carries no CSRF token"
        http.headers.update({"Origin": self.url, "X-CSRF-Token": csrf.group(1)})
        return http


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Portal]:
    home = Home(tmp_path_factory.mktemp("portal-home"))
    with PlatformContext.open(home, create=True) as ctx:  # tests that add users must not change the review rule
        set_required_approvals(ctx, 0, actor=actor_for_token(ctx, read_secret(home.admin_token_file) or ""))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "neuroscale.portal", "--home", str(home.root), "--port", str(port)]
    with running(argv, ready_url=f"{url}/healthz"):
        yield Portal(url=url, home=home, model=iris_model)


@pytest.fixture()
def client(portal: Portal) -> Iterator[httpx.Client]:
    """The REST API with the admin's bearer token."""
    with portal.bearer() as http:
        yield http


@pytest.fixture()
def session(portal: Portal) -> Iterator[httpx.Client]:
    """The pages, signed in as the admin through a login link."""
    http = portal.signed_in()
    try:
        yield http
    finally:
        http.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian chromium driven by Playwright."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def signed_in_page(browser: Browser, portal: Portal, token: str | None = None) -> Iterator[Page]:
    """A fresh browser context with one page, signed in to the portal; closed afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, portal, token)
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Page, portal: Portal, token: str | None = None) -> None:
    """Open a one-time login link, as a person does after `neuroscale up`, and land on the portal."""
    page.goto(portal.login_link(token))
    expect(page).to_have_url(f"{portal.url}/endpoints")
    expect(page.locator("#signed-in-as")).to_be_visible()


@dataclass
class Attacker:
    """Another origin on loopback serving whatever page a test puts at a path."""

    url: str
    pages: dict[str, str] = field(default_factory=dict)

    def page(self, path: str, body: str) -> str:
        self.pages[path] = f"<!doctype html><html><body>{body}</body></html>"
        return f"{self.url}{path}"

    def form(self, path: str, *, action: str, fields: dict[str, str], enctype: str = "") -> str:
        """A page that submits a POST form to `action` as soon as it loads."""
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in fields.items())
        kind = f' enctype="{enctype}"' if enctype else ""
        return self.page(path, f'<form id="f" method="post" action="{action}"{kind}>{inputs}</form>'
                               '<script>document.getElementById("f").submit()</script>')


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    site = Attacker(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = site.pages.get(self.path.split("?")[0], "<!doctype html><title>attacker</title>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
