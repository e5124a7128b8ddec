"""The form in a real browser: Debian chromium driven by Playwright against the real portal process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.portal.conftest import Portal, signed_in_page

pytestmark = pytest.mark.browser


@pytest.fixture()
def page(browser: Browser, portal: Portal) -> Iterator[Page]:
    with signed_in_page(browser, portal) as opened:
        yield opened


def _fill(page: Page, portal: Portal, name: str, *, cpu_request: str = "100m") -> None:
    page.get_by_label("Endpoint name").fill(name)
    page.get_by_label("Owner").fill("team-ml")
    page.get_by_label("Cost center").fill("cc-42")
    page.get_by_label("Model format").select_option("sklearn")
    page.get_by_label("Storage URI").fill(portal.model.as_uri())
    page.get_by_label("CPU request").fill(cpu_request)


def test_fill_submit_see_passing_checks_and_merge(page: Page, portal: Portal) -> None:
    page.goto(f"{portal.url}/new")
    _fill(page, portal, "browser-iris")
    page.get_by_role("button", name="Open pull request").click()
    expect(page).to_have_url(re.compile(r"/pulls/\d+$"))
    expect(page.get_by_role("heading", name=re.compile("Create endpoint browser-iris"))).to_be_visible()
    checks = page.locator("li.check")
    expect(checks).not_to_have_count(0)
    expect(page.locator("li.check[data-status]:not([data-status='pass'])")).to_have_count(0)
    merge = page.get_by_role("button", name="Merge pull request")
    expect(merge).to_be_enabled()
    merge.click()
    expect(page.locator("#merged-note")).to_be_visible()
    expect(page.locator("#pr-state")).to_have_text("merged")


def test_bad_value_is_shown_next_to_the_field(page: Page, portal: Portal) -> None:
    page.goto(f"{portal.url}/new")
    name = page.get_by_label("Endpoint name")
    name.fill("Not-Valid")
    assert name.evaluate("element => element.checkValidity()") is False  # the generated pattern is live
    _fill(page, portal, "browser-bad", cpu_request="plenty")
    assert name.evaluate("element => element.checkValidity()") is True
    page.get_by_role("button", name="Open pull request").click()
    error = page.locator("#cpuRequest-error")
    expect(error).to_contain_text("not a Kubernetes quantity")
    expect(page.get_by_label("CPU request")).to_have_value("plenty")
    expect(page.get_by_label("CPU request")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Owner")).to_have_value("team-ml")
    assert "/new" in page.url
