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


def merged(home: Path, *args: str) -> None:
    created = neuroscale("endpoint", "create", *args, home=home)
    assert created.returncode == 0, created.stderr
    pulls = json.loads(neuroscale("pr", "list", "--state", "open", "-o", "json", home=home).stdout)
    assert neuroscale("pr", "merge", str(pulls[0]["number"]), home=home).returncode == 0


def diabetes_model(directory: Path) -> Path:
    """A regression on scikit-learn's bundled diabetes data: 10 features, not iris's 4."""
    import joblib
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    data = load_diabetes()
    path = directory / "diabetes.joblib"
    joblib.dump(LinearRegression().fit(data.data, data.target), path)
    return path


def smoke_until_passing(home: Path, *args: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    data: dict[str, Any] = {}
    while time.monotonic() < deadline:
        done = neuroscale("smoke", "-o", "json", *args, home=home)
        data = json.loads(done.stdout)
        if done.returncode == 0:
            break
        time.sleep(0.5)
    return data


@pytest.mark.e2e
def test_smoke_calls_every_model_with_its_own_request(running_platform: Path, iris_model: Path,
                                                      model_dir: Path, tmp_path: Path) -> None:
    """Issue 10 item 5: iris from its V2 metadata, a 10-feature model from the sample stored with it."""
    home = running_platform
    merged(home, "--name", "iris", "--owner", "team-a", "--cost-center", "cc-1", "--model-format", "sklearn",
           "--storage-uri", iris_model.as_uri())
    sample = tmp_path / "request.json"
    sample.write_text(json.dumps({"instances": [[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, -0.002, 0.02, -0.02]]}))
    merged(home, "--name", "diabetes", "--owner", "team-b", "--cost-center", "cc-2", "--model-format", "sklearn",
           "--storage-uri", diabetes_model(model_dir).as_uri(), "--sample-request", str(sample))
    data = smoke_until_passing(home)
    inference = [r for r in data["results"] if r["name"] == "Inference through the gateway"]
    assert [r["outcome"] for r in inference] == ["PASS", "PASS"], data
    details = " ".join(r["detail"] for r in inference)
    assert "diabetes (main:apps/diabetes/sample-request.json): [" in details
    assert "iris (V2 metadata of iris): [" in details and data["summary"]["FAIL"] == 0

    only = smoke_until_passing(home, "--endpoint", "iris")
    assert [r["detail"].split(" ")[0] for r in only["results"] if r["name"].startswith("Inference")] == ["iris"]
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"instances": [[1.0, 2.0]]}))
    done = neuroscale("smoke", "-o", "json", "--endpoint", "diabetes", "--sample-request", str(wrong), home=home)
    failed = [r for r in json.loads(done.stdout)["results"] if r["outcome"] == "FAIL"]
    assert done.returncode == 1 and "expects 10 features per row, got 2" in failed[0]["detail"]
    missing = neuroscale("smoke", "--endpoint", "nope", home=home)
    assert missing.returncode == 1 and "no endpoint named 'nope'" in missing.stdout
