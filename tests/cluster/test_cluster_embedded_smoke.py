"""`neuroscale smoke` without --cluster: real status store and real policies, no platform running."""

from __future__ import annotations

from pathlib import Path

from neuroscale.cluster.embedded import run_embedded_smoke
from neuroscale.cluster.results import exit_code
from neuroscale.db import connect
from neuroscale.engine.store import StatusStore
from neuroscale.home import Home

from tests.conftest import free_port


def test_missing_home_fails_with_start_hint(tmp_path: Path) -> None:
    results = run_embedded_smoke(Home(tmp_path / "nothing"))
    assert [r.outcome for r in results] == ["FAIL"] and "platform up" in results[0].hint


def test_stopped_gateway_fails_and_policies_still_deny(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    StatusStore(connect(home.state_db)).conn.close()  # an initialised, empty platform state
    results = {r.name: r for r in run_embedded_smoke(home, gateway_port=free_port())}
    assert results["Gateway reachable"].outcome == "FAIL"
    assert results["Endpoints Ready"].outcome == "SKIP"
    assert results["Unlabelled InferenceService denied"].outcome == "PASS"
    assert exit_code(list(results.values())) == 1
