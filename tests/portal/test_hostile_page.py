"""A hostile page next to a signed-in portal, in real Chromium: it frames the portal, and markup planted in
everything users can write (pull-request titles, authors, annotations, check findings, event messages,
statuses) is shown as text, never run.

The attacker's page is served from another port of 127.0.0.1 (same site: the session cookie goes along),
so only the portal's answers decide whether the framed portal renders (clickjacking). The CSRF, fetch and
DNS-rebinding attempts are `test_cross_site`'s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from neuroscale.db import connect
from neuroscale.engine.clock import iso
from neuroscale.engine.store import EngineStore
from neuroscale.gitops.provider import CheckResult, Proposal
from neuroscale.gitops.repo import Author
from neuroscale.services.context import PlatformContext
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.status.conditions import ConditionType, false
from neuroscale.status.model import EndpointStatus, Event, EventType, Health, Sync
from neuroscale.yamlio import dump
from tests.portal.conftest import Attacker, Portal, signed_in_page

pytestmark = pytest.mark.browser

NAME = "xss-target"
#: Each payload sets `window.__xss` if it ever runs as script.
PAYLOADS = ("<img src=x onerror=\"window.__xss='img'\">", "<script>window.__xss='script'</script>",
            "<svg onload=\"window.__xss='svg'\"></svg>", "\"><iframe srcdoc=\"<script>parent.__xss='srcdoc'</script>\">")
MARKUP = " ".join(PAYLOADS)


@pytest.fixture()
def victim(browser: Browser, portal: Portal) -> Iterator[Page]:
    with signed_in_page(browser, portal) as page:
        yield page


def test_the_portal_refuses_to_be_framed(victim: Page, portal: Portal, attacker: Attacker) -> None:
    prize = attacker.page("/prize", f'<iframe id="victim" src="{portal.url}/endpoints" width="900" height="600">'
                                    "</iframe>")
    victim.goto(prize)  # waits for the page's load: its frame's too
    [frame] = [f for f in victim.frames if f != victim.main_frame]
    assert frame.locator("#signed-in-as").count() == 0, "the signed-in portal renders inside another page"
    own = victim.goto(f"{portal.url}/endpoints")
    assert own is not None and own.headers.get("x-frame-options") == "DENY"
    assert "frame-ancestors 'none'" in own.headers.get("content-security-policy", "")
    expect(victim.locator("#signed-in-as")).to_be_visible()  # the portal's own page still renders


def _plant(portal: Portal) -> int:
    """Markup wherever users write text: a pull request (title, author, annotation, a check finding), and
    the state the reconciler shows (a status condition, an event)."""
    manifest = to_manifest(EndpointSpec(name=NAME, owner="team-ml", cost_center="cc-42",
                                        storage_uri=portal.model.as_uri()))
    manifest["metadata"]["annotations"] = {"description": MARKUP}
    with PlatformContext.open(portal.home) as ctx:
        pull = ctx.provider.propose(Proposal(endpoint=NAME, action="create", title=f"add {MARKUP}",
                                             files={manifest_path(NAME): dump(manifest).encode()},
                                             author=Author(f"mallory {PAYLOADS[1]}", "mallory@example.com")))
        finding = {"rule": "lints", "severity": "error", "file": manifest_path(NAME), "message": MARKUP,
                   "fix": MARKUP}
        ctx.provider.record_checks(pull.number, head_sha=pull.head_sha,
                                   checks=[CheckResult("lints", "fail", [finding])])

    conn = connect(portal.home.state_db)
    try:
        engine = EngineStore(conn)
        engine.save_status(EndpointStatus(
            name=NAME, namespace="default", url="", sync=Sync.OutOfSync, health=Health.Degraded, revision="",
            conditions=(false(ConditionType.Ready, "InvalidManifest", MARKUP),)))
        engine.record_event(Event(time=iso(time.time()), endpoint=NAME, type=EventType.Warning,
                                  reason="InvalidManifest", message=MARKUP))
    finally:
        conn.close()
    return pull.number


def test_markup_users_write_is_shown_as_text(victim: Page, portal: Portal) -> None:
    number = _plant(portal)
    dialogs: list[str] = []

    def opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    victim.on("dialog", opened)
    for path in ("/pulls", f"/pulls/{number}", "/endpoints", f"/endpoints/{NAME}", "/events"):
        answer = victim.goto(f"{portal.url}{path}")
        assert answer is not None and answer.status == 200, path
        expect(victim.get_by_text(PAYLOADS[0], exact=False).first).to_be_visible()
        assert victim.evaluate("window.__xss === undefined"), (path, victim.evaluate("window.__xss"))
        assert victim.locator("img[src=x], svg[onload], iframe[srcdoc]").count() == 0, path
    assert dialogs == []
