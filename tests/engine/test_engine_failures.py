"""What main can get wrong, and what the reconciler does about it (real git, processes and SQLite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from neuroscale.spec.fields import LABEL_COST_CENTER
from neuroscale.spec.manifest import manifest_path
from neuroscale.status.conditions import ConditionType
from neuroscale.status.model import EventType, Health, Sync
from tests.conftest import IRIS_ROWS
from tests.engine.conftest import (
    Platform,
    iris_spec,
    predict,
    ready_of,
    routes,
    server_pids,
    wait_for,
    without_cost_center,
)

R1 = "iris-predictor-00001"


def test_non_compliant_and_invalid_manifests_are_not_deployed(running: Platform, iris_model: Path) -> None:
    running.commit({
        manifest_path("iris"): without_cost_center(iris_model),
        manifest_path("broken"): b"apiVersion: serving.kserve.io/v1beta1\nkind: [unclosed\n",
    })
    denied = running.wait_reason("iris", "AdmissionDenied")
    ready = denied.condition(ConditionType.Ready)
    assert ready is not None and not ready.is_true and LABEL_COST_CENTER in ready.message
    assert (denied.health, denied.sync, denied.revision) == (Health.Degraded, Sync.OutOfSync, "")
    invalid = running.wait_reason("broken", "InvalidManifest")
    assert "YAML" in ready_of(invalid).message
    table = routes(running.home)["endpoints"]
    assert not table["iris"]["ready"] and table["iris"]["reason"] == "AdmissionDenied"
    assert not table["broken"]["ready"]
    warnings = [e for e in running.events("iris") if e.type is EventType.Warning]
    assert warnings and warnings[0].reason == "AdmissionDenied"
    assert server_pids(running.home) == []


def test_rejected_update_keeps_the_previous_revision_serving(running: Platform, iris_model: Path) -> None:
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    [pid] = server_pids(running.home)
    running.commit({manifest_path("iris"): without_cost_center(iris_model, storage_uri="/elsewhere.joblib")})
    status = running.wait_reason("iris", "AdmissionDenied")
    assert (status.sync, status.health, status.revision) == (Sync.OutOfSync, Health.Degraded, R1)
    assert f"still serving {R1}" in ready_of(status).message
    entry = routes(running.home)["endpoints"]["iris"]
    assert entry["ready"] and predict(entry["upstream"], IRIS_ROWS) == {"predictions": [1, 1]}
    assert server_pids(running.home) == [pid]


def test_bad_model_file_crash_loops_with_the_server_reason(running: Platform, model_dir: Path) -> None:
    corrupt = model_dir / "corrupt.joblib"
    corrupt.write_bytes(b"this is not a pickle")
    running.deploy(iris_spec(corrupt))
    status = running.wait_reason("iris", "CrashLoopBackOff")
    ready = status.condition(ConditionType.Ready)
    assert ready is not None and "ModelLoadFailed" in ready.message
    assert status.health is Health.Degraded
    entry = routes(running.home)["endpoints"]["iris"]
    assert not entry["ready"] and entry["reason"] == "CrashLoopBackOff" and "ModelLoadFailed" in entry["message"]
    exits = [e for e in running.events("iris") if e.reason == "ProcessExited"]
    assert len(exits) >= 2 and all("ModelLoadFailed" in e.message for e in exits)


def test_second_reconciler_on_the_same_home_exits(running: Platform) -> None:
    wait_for(lambda: (running.home.run_dir / "reconciler.lock").exists(), what="first reconciler holds the lock")
    wait_for(lambda: running.home.routes_file.exists(), what="first reconciler running")
    second = subprocess.run([sys.executable, "-m", "neuroscale.engine", "--home", str(running.home.root)],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "already running" in second.stderr
    assert running.engine is not None and running.engine.poll() is None


def test_unreadable_main_keeps_serving_and_recovers(running: Platform, iris_model: Path) -> None:
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    moved = running.home.remote.with_name("moved.git")
    running.home.remote.rename(moved)
    try:
        status = running.wait_reason("iris", "SourceUnavailable")
        assert status.health is Health.Degraded and routes(running.home)["endpoints"]["iris"]["ready"]
    finally:
        moved.rename(running.home.remote)
    assert running.wait_ready("iris", revision=R1).health is Health.Healthy
