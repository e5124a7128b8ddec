"""`neuroscale smoke` without --cluster: real status store and real policies, no platform running."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neuroscale.cluster.embedded import run_embedded_smoke
from neuroscale.cluster.results import exit_code
from neuroscale.db import connect
from neuroscale.engine.store import StatusStore
from neuroscale.home import Home

from tests.conftest import free_port, platform_up


def test_missing_home_fails_with_start_hint(tmp_path: Path) -> None:
    results = run_embedded_smoke(Home(tmp_path / "nothing"))
    assert [r.outcome for r in results] == ["FAIL"] and "neuroscale up" in results[0].hint


def test_stopped_gateway_fails_and_policies_still_deny(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    StatusStore(connect(home.state_db)).conn.close()  # an initialised, empty platform state
    results = {r.name: r for r in run_embedded_smoke(home, gateway_url=f"http://127.0.0.1:{free_port()}")}
    assert results["Gateway healthy"].outcome == "FAIL"
    assert results["Endpoints Ready"].outcome == "SKIP"
    assert results["Unlabelled InferenceService denied"].outcome == "PASS"
    assert exit_code(list(results.values())) == 1


def neuroscale(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "neuroscale", *args, "--home", str(home)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def running_platform(tmp_path: Path) -> Iterator[Path]:
    """`neuroscale up` as a real process on free ports; every process it started is stopped afterwards."""
    home = tmp_path / "home"
    with platform_up(home, portal=free_port(), gateway=free_port()):
        yield home


@pytest.mark.e2e
def test_smoke_passes_on_a_serving_embedded_platform(running_platform: Path, iris_model: Path) -> None:
    home = running_platform
    created = neuroscale("endpoint", "create", "--name", "iris", "--owner", "team-a", "--cost-center", "cc-1",
                         "--model-format", "sklearn", "--storage-uri", iris_model.as_uri(), home=home)
    assert created.returncode == 0, created.stderr
    pulls = json.loads(neuroscale("pr", "list", "-o", "json", home=home).stdout)
    assert neuroscale("pr", "merge", str(pulls[0]["number"]), home=home).returncode == 0
    deadline = time.monotonic() + 60
    data: dict[str, Any] = {}
    while time.monotonic() < deadline:
        done = neuroscale("smoke", "-o", "json", home=home)
        data = json.loads(done.stdout)
        if done.returncode == 0:
            break
        time.sleep(0.5)
    outcomes = {r["name"]: r["outcome"] for r in data["results"]}
    assert outcomes["Endpoints Ready"] == "PASS", data
    assert outcomes["Inference through the gateway"] == "PASS" and "[1, 1]" in json.dumps(data)
    assert data["summary"]["FAIL"] == 0
