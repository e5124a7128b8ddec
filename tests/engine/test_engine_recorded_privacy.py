"""Recorded requests are live user inputs: a prediction diff keeps references to them, never the inputs.

On a real platform (engine, gateway, model servers) with a real portal process over the same home: the
gateway records iris's traffic, a pull request swaps the model, and the prediction diff lists changed
predictions. Anyone who may read pull requests reads the check; only admins (like the home's owner, the
only user who can read the recording's 0600 file) see the inputs, looked up in the recording when the
pull request is shown, and nobody once the recorder dropped them.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from neuroscale.cli.main import main
from neuroscale.identity.roles import parse_role
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import RawManifest, update_endpoint
from neuroscale.services.identity import TOKEN_ENV, actor_for_token, add_user, issue_login_link
from neuroscale.spec import extensions
from tests.conftest import IRIS_ROWS, free_port, wait_for
from tests.conftest import running as running_process
from tests.engine.conftest import Platform
from tests.engine.test_engine_previews import (ALICE, SETOSA, ctx, ctx_of, diff_of, manifest,  # noqa: F401
                                             record_sample)
from tests.portal.conftest import CHROMIUM, CHROMIUM_ARGS

RECORDING = {extensions.RECORD: "true", extensions.RECORD_MAX_REQUESTS: "10"}
CHANGED_INPUT = repr({"instances": IRIS_ROWS})  # how a changed prediction's input reads when shown
WITHHELD = "its input is shown only to admins"
GONE = "no longer recorded"


def _changed(findings: list[dict[str, object]]) -> list[str]:
    return [str(f["message"]) for f in findings if "recorded request" in str(f["message"])]


def _token_of(ctx: PlatformContext, name: str, role: str) -> str:
    admin = actor_for_token(ctx, ctx.home.admin_token_file.read_text().strip())
    return add_user(ctx, name, parse_role(role), actor=admin)[1]


def test_recorded_inputs_are_referenced_in_the_check_and_shown_to_admins_only(
        running: Platform, ctx: PlatformContext, gateway: str, iris_model: Path, constant_model: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = record_sample(running, gateway, iris_model, RECORDING)
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model, annotations=RECORDING)), actor=ALICE)
    check = diff_of(ctx, pr.number)
    assert check.findings[0]["extra"]["agreement"] == pytest.approx(0.4)

    stored = sqlite3.connect(_pulls_db(ctx))
    rows = [row[0] for row in stored.execute("SELECT findings FROM pr_checks WHERE name = 'prediction-diff'")]
    stored.close()
    assert rows and not any("6.8" in row or "instances" in row for row in rows), "the stored check has no input"
    key = running.home.run_dir / "recorded-fingerprint.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    references = _changed(check.findings)
    assert len(references) == 6 and all(r.startswith("line ") and "instances" not in r for r in references), references

    viewer_token = _token_of(ctx, "vera", "viewer")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    portal = [sys.executable, "-m", "neuroscale.portal", "--home", str(running.home.root), "--port", str(port)]
    with running_process(portal, ready_url=f"{url}/healthz"):
        admin = httpx.get(f"{url}/api/pulls/{pr.number}", timeout=30,
                          headers={"Authorization": f"Bearer {running.home.admin_token_file.read_text().strip()}"})
        viewer = httpx.get(f"{url}/api/pulls/{pr.number}", timeout=30,
                           headers={"Authorization": f"Bearer {viewer_token}"})
        as_admin, as_viewer = (_changed(_diff(answer.json())) for answer in (admin, viewer))
        assert len(as_admin) == 6 and all(r.endswith(CHANGED_INPUT) for r in as_admin), as_admin
        assert len(as_viewer) == 6 and all(WITHHELD in r and "instances" not in r for r in as_viewer), as_viewer
        listed = httpx.get(f"{url}/api/pulls", timeout=30, headers={"Authorization": f"Bearer {viewer_token}"})
        assert "instances" not in json.dumps([p["checks"] for p in listed.json()])

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for token, shown in ((None, CHANGED_INPUT), (viewer_token, WITHHELD)):
                page = browser.new_context().new_page()
                with PlatformContext.open(running.home) as opened:
                    secret = issue_login_link(opened, actor=actor_for_token(
                        opened, token or running.home.admin_token_file.read_text().strip()))
                page.goto(f"{url}/login?token={secret}")
                page.goto(f"{url}/pulls/{pr.number}")
                diff = page.locator('li.check[data-check="prediction-diff"]')
                expect(diff).to_contain_text(shown)
                assert diff.inner_text().count(shown) == 6
                if token:
                    assert "instances" not in diff.inner_text()
            browser.close()

    assert main(["pr", "show", str(pr.number), "--home", str(running.home.root)]) == 0
    out = capsys.readouterr().out
    assert out.count(CHANGED_INPUT) == 6, out
    monkeypatch.setenv(TOKEN_ENV, viewer_token)
    assert main(["pr", "show", str(pr.number), "--home", str(running.home.root)]) == 0
    out = capsys.readouterr().out
    assert out.count(WITHHELD) == 6 and "instances" not in out.split("prediction-diff", 1)[1], out
    monkeypatch.delenv(TOKEN_ENV)

    # The recorder keeps 10 requests: 10 more push the changed ones out, and their inputs are gone for everyone.
    with httpx.Client(base_url=gateway, timeout=30) as client:
        for _ in range(10):
            assert client.post("/v1/models/iris:predict", json={"instances": SETOSA}).status_code == 200
    wait_for(lambda: "6.8" not in recorded.read_text() and len(recorded.read_text().splitlines()) == 10,
             what="the recording rotated")
    assert main(["pr", "show", str(pr.number), "--home", str(running.home.root)]) == 0
    out = capsys.readouterr().out
    assert out.count(GONE) == 6 and CHANGED_INPUT not in out, out


def _pulls_db(ctx: PlatformContext) -> Path:
    """The SQLite file the pull requests' check results are stored in, opened apart from the services."""
    [path] = [row[2] for row in ctx.provider.db.execute("PRAGMA database_list") if row[1] == "main"]  # type: ignore[attr-defined]
    return Path(path)


def _diff(pull: dict[str, object]) -> list[dict[str, object]]:
    return next(c["findings"] for c in pull["checks"] if c["name"] == "prediction-diff")  # type: ignore[index, union-attr, no-any-return]
