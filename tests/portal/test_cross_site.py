"""Cross-site requests in real Chromium: a page on ANOTHER loopback origin tries every change; none lands.

The attacker's pages are served from another port of 127.0.0.1, which is the
*same site* as the portal: the browser sends the portal's `SameSite=Strict`
session cookie along, so only the portal's own checks (Origin, CSRF token,
bearer-only API, JSON-only API) stand between the page and a merge. The same
actions then succeed from the portal's own pages, and a DNS-rebound name
(Chromium resolving `rebound.test` to 127.0.0.1) gets 421.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from tests.portal.conftest import CHROMIUM, CHROMIUM_ARGS, Attacker, Portal, signed_in_page

pytestmark = pytest.mark.browser

REBOUND = "rebound.test"


@pytest.fixture(scope="module")
def rebinding_browser() -> Iterator[Browser]:
    """Chromium whose resolver answers 127.0.0.1 for `rebound.test`, as a rebinding DNS server would."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def victim(rebinding_browser: Browser, portal: Portal) -> Iterator[Page]:
    """A browser signed in to the portal, about to visit other pages."""
    with signed_in_page(rebinding_browser, portal) as page:
        yield page


def _portal_responses(page: Page, portal: Portal) -> list[Response]:
    seen: list[Response] = []
    page.on("response", lambda response: seen.append(response) if response.url.startswith(portal.url) else None)
    return seen


def _state(client: httpx.Client) -> list[tuple[int, str, str]]:
    return sorted((p["number"], p["state"], p["headSha"]) for p in client.get("/api/pulls").json())


FETCH = """async ([url, init]) => {
  try { const r = await fetch(url, init); return {type: r.type, status: r.status, body: await r.text()}; }
  catch (e) { return {error: String(e)}; }
}"""


def test_every_change_from_another_loopback_origin_is_refused(victim: Page, portal: Portal, attacker: Attacker,
                                                               client: httpx.Client) -> None:
    pull = client.post("/api/endpoints", json=portal.spec("xsite-target")).json()
    assert pull["checksPassed"], pull
    number, before = pull["number"], _state(client)
    stolen = victim.context.cookies(portal.url)
    assert [c["name"] for c in stolen] == ["ns_session"] and stolen[0]["httpOnly"] and stolen[0]["sameSite"] == "Strict"
    responses = _portal_responses(victim, portal)
    spec = {k: str(v) for k, v in portal.spec("xsite-new").items()}

    forms = {
        "/new": spec,
        f"/pulls/{number}/merge": {},
        f"/pulls/{number}/close": {},
        f"/pulls/{number}/approve": {"head": pull["headSha"]},
        "/endpoints/xsite-target/delete": {},
        "/endpoints/xsite-target/edit": spec,
        "/logout": {},
    }
    for index, (path, fields) in enumerate(forms.items()):
        victim.goto(attacker.form(f"/form{index}", action=f"{portal.url}{path}",
                                  fields={**fields, "csrf_token": "guessed"}))
        expect(victim).to_have_url(f"{portal.url}{path}")
        expect(victim.get_by_text("cross-site request refused")).to_be_visible()
    text_plain = attacker.form("/text-plain", action=f"{portal.url}/api/endpoints", enctype="text/plain",
                               fields={'{"name": "xsite-json", "padding": "': '"}'})
    victim.goto(text_plain)
    expect(victim.get_by_text("cross-site request refused")).to_be_visible()

    victim.goto(attacker.page("/scripts", "<p>innocent</p>"))
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("/api/endpoints", {"method": "POST", "mode": "no-cors", "credentials": "include",
                            "headers": {"Content-Type": "text/plain"}, "body": json.dumps(portal.spec("xsite-f"))}),
        (f"/api/pulls/{number}/merge", {"method": "POST", "mode": "no-cors", "credentials": "include"}),
        (f"/api/pulls/{number}/merge", {"method": "POST", "credentials": "include",
                                        "headers": {"Content-Type": "application/json"}, "body": "{}"}),
        (f"/pulls/{number}/merge", {"method": "POST", "mode": "no-cors", "credentials": "include",
                                    "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                                    "body": "csrf_token=guessed"}),
        ("/api/endpoints/xsite-target", {"method": "DELETE", "credentials": "include"}),
        ("/api/pulls", {"credentials": "include"}),  # reading: the answer must not reach the page
    ]
    for path, init in attempts:
        result = victim.evaluate(FETCH, [f"{portal.url}{path}", init])
        assert "error" in result or result["type"] == "opaque", (path, result)  # nothing readable
    navigation = victim.goto(f"{portal.url}/pulls/{number}/merge")  # a link or redirect: GET changes nothing
    assert navigation is not None and navigation.status == 405

    assert _state(client) == before, "a cross-site request changed something"
    assert client.get(f"/api/pulls/{number}").json()["state"] == "open"
    changes = [r for r in responses if r.request.method in ("POST", "PUT", "DELETE")]
    assert changes and all(r.status in (403, 415) for r in changes), [(r.url, r.status) for r in changes]

    victim.goto(f"{portal.url}/pulls/{number}")  # still signed in: the forged /logout was refused too
    expect(victim.locator("#signed-in-as")).to_be_visible()


def test_the_same_actions_succeed_from_the_portals_own_pages(victim: Page, portal: Portal,
                                                              rebinding_browser: Browser, client: httpx.Client) -> None:
    victim.goto(f"{portal.url}/new")
    for label, value in (("Endpoint name", "own-pages"), ("Owner", "team-ml"), ("Cost center", "cc-42"),
                         ("Storage URI", portal.model.as_uri())):
        victim.get_by_label(label).fill(value)
    victim.get_by_role("button", name="Open pull request").click()
    expect(victim.locator("#pr-state")).to_have_text("open")
    number = int(victim.url.rsplit("/", 1)[1])

    token = portal.add_user("own-bob", "approver")
    with signed_in_page(rebinding_browser, portal, token) as reviewer:
        reviewer.goto(f"{portal.url}/pulls/{number}")
        reviewer.get_by_role("button", name="Approve").click()
        expect(reviewer.locator("#approvals")).to_contain_text("own-bob")

    victim.reload()
    victim.get_by_role("button", name="Merge pull request").click()
    expect(victim.locator("#merged-by")).to_have_text("admin")
    victim.goto(f"{portal.url}/endpoints")
    victim.locator("article[aria-labelledby='ep-own-pages']").get_by_role(
        "button", name="Delete (opens a pull request)").click()
    expect(victim.locator("#pr-state")).to_have_text("open")
    victim.get_by_role("button", name="Close without merging").click()
    expect(victim.locator("#pr-state")).to_have_text("closed")
    victim.get_by_role("button", name="Sign out").click()
    expect(victim).to_have_url(f"{portal.url}/login")
    victim.goto(f"{portal.url}/endpoints")
    expect(victim).to_have_url(f"{portal.url}/login?next=%2Fendpoints")

    events = client.get("/api/events", params={"endpoint": "own-pages"}).json()
    actors = {(e["reason"], e["actor"]) for e in events}
    assert {("PullRequestOpened", "admin"), ("PullRequestApproved", "own-bob"), ("PullRequestMerged", "admin"),
            ("PullRequestClosed", "admin")} <= actors


def test_a_rebound_dns_name_gets_421(victim: Page, portal: Portal) -> None:
    port = portal.url.rsplit(":", 1)[1]
    response = victim.goto(f"http://{REBOUND}:{port}/endpoints")
    assert response is not None and response.status == 421
    result = victim.evaluate(FETCH, [f"http://{REBOUND}:{port}/api/pulls", {}])  # same-origin for the page now
    assert result.get("status") == 421 and "MisdirectedRequest" in result["body"]
