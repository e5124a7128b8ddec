"""Every page in real Chromium at 1280 px and 390 px: no horizontal overflow of the page, axe-core finds no
WCAG 2 A/AA violation (contrast included), and a screenshot is kept under tmp/artifacts for people to look at."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.portal.conftest import Portal, sign_in

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "platform" / "js" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("NEUROSCALE_ARTIFACTS", Path(__file__).resolve().parents[2] / "tmp" / "artifacts"))
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def merged_endpoint(portal: Portal) -> str:
    name = "a11y-iris"
    with portal.bearer() as http:
        created = http.post("/api/endpoints", json=portal.spec(name))
        assert created.status_code == 201, created.text
        merged = http.post(f"/api/pulls/{created.json()['number']}/merge")
        assert merged.status_code == 200, merged.text
    return name


def _pages(name: str) -> list[tuple[str, str]]:
    return [("endpoints", "/endpoints"), ("endpoint", f"/endpoints/{name}"), ("new", "/new"),
            ("edit", f"/endpoints/{name}/edit"), ("pulls", "/pulls"), ("pull", "/pulls/1"),
            ("events", "/events"), ("events-filtered", f"/events?endpoint={name}&type=Normal"),
            ("cost", "/cost?window=24h&aggregate=label:cost-center")]


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request: pytest.FixtureRequest, browser: Browser, portal: Portal) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": request.param, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    sign_in(opened, portal)
    try:
        yield opened
    finally:
        context.close()


def _axe(page: Page) -> list[dict[str, object]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return list(result)


def test_every_page_fits_the_screen_and_passes_axe(page: Page, portal: Portal, merged_endpoint: str) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for label, path in _pages(merged_endpoint):
        response = page.goto(f"{portal.url}{path}")
        assert response is not None and response.status == 200, f"{path}: {response.status if response else None}"
        page.screenshot(path=str(ARTIFACTS / f"portal-{label}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            problems[f"{path} overflow"] = f"{overflow}px wider than the {width}px screen"
        violations = _axe(page)
        if violations:
            problems[path] = violations
    assert not problems, json.dumps(problems, indent=2)[:6000]


def test_new_endpoint_link_is_reachable_on_a_phone(page: Page, portal: Portal) -> None:
    page.goto(f"{portal.url}/endpoints")
    button = page.get_by_role("link", name="New endpoint")
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= (page.viewport_size or {"width": 0})["width"]
