"""The reconciler end to end with real parts: git, SQLite, model-server processes, HTTP on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from neuroscale.db import connect
from neuroscale.identity.api_keys import ApiKeyStore
from neuroscale.spec.manifest import manifest_path
from neuroscale.status.conditions import ConditionType
from neuroscale.status.exits import parse_exit
from neuroscale.status.model import EventType, Health, Sync
from tests.conftest import IRIS_ROWS
from tests.engine.conftest import Platform, iris_spec, predict, routes, served_upstream, server_pids, wait_for

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"


def test_merge_deploys_and_serves(running: Platform, iris_model: Path) -> None:
    sha = running.deploy(iris_spec(iris_model))
    status = running.wait_ready("iris", revision=R1)
    assert status.observed_commit == sha
    assert (status.sync, status.health) == (Sync.Synced, Health.Healthy)
    assert status.url == f"http://iris.default.localhost:{running.gateway_port}"
    assert {c.type for c in status.conditions if c.is_true} == set(ConditionType)
    entry = routes(running.home)["endpoints"]["iris"]
    assert entry["ready"] and entry["revision"] == R1
    assert predict(entry["upstream"], IRIS_ROWS) == {"predictions": [1, 1]}
    reasons = [e.reason for e in running.events("iris")]
    assert reasons[:4] == ["RevisionCreated", "RevisionStarting", "RevisionReady", "TrafficSwitched"]
    assert server_pids(running.home) == server_pids(running.home, R1) and len(server_pids(running.home)) == 1


def test_spec_change_rolls_out_a_new_revision(running: Platform, iris_model: Path, model_dir: Path) -> None:
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    [old_pid] = server_pids(running.home, R1)

    relabel = running.deploy(iris_spec(iris_model, owner="team-other"))
    status = running.wait_ready("iris", commit=relabel)
    assert status.revision == R1 and server_pids(running.home) == [old_pid]  # labels do not restart

    moved = model_dir / "v2" / "model.joblib"
    moved.parent.mkdir()
    shutil.copy(iris_model, moved)
    running.deploy(iris_spec(iris_model, storage_uri=str(moved)))
    running.wait_ready("iris", revision=R2)
    entry = routes(running.home)["endpoints"]["iris"]
    assert entry["revision"] == R2 and predict(entry["upstream"], IRIS_ROWS) == {"predictions": [1, 1]}
    wait_for(lambda: server_pids(running.home) == server_pids(running.home, R2), what="old revision stopped")
    assert old_pid not in server_pids(running.home)
    messages = {e.reason: e.message for e in running.events("iris")}
    assert f"(was 100% to {R1})" in messages["TrafficSwitched"] and R1 in messages["RevisionRetired"]


def test_killed_server_is_restarted(running: Platform, iris_model: Path) -> None:
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    [pid] = server_pids(running.home)
    os.kill(pid, signal.SIGKILL)

    def healed() -> list[str] | None:
        reasons = [e.reason for e in running.events("iris")]
        tail = reasons[reasons.index("ProcessExited"):] if "ProcessExited" in reasons else []
        return tail if "RevisionReady" in tail else None

    assert healed_reasons(wait_for(healed, what="restart after kill")) == ["ProcessExited", "Restarted",
                                                                          "RevisionReady"]
    exited = next(e for e in running.events("iris") if e.reason == "ProcessExited")
    record = parse_exit(exited.message)
    assert exited.type is EventType.Warning and record is not None and record.pid == pid
    assert record.cause == "KilledBySignal" and "SIGKILL after loading its model" in record.detail
    status = running.wait_ready("iris", revision=R1)
    assert status.health is Health.Healthy
    [new_pid] = server_pids(running.home)
    assert new_pid != pid
    assert predict(served_upstream(running.home, "iris"), IRIS_ROWS) == {"predictions": [1, 1]}


def test_hung_server_is_killed_and_restarted(running: Platform, iris_model: Path) -> None:
    """SIGSTOP leaves the process alive but deaf: only a liveness probe can notice."""
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    [pid] = server_pids(running.home)
    os.kill(pid, signal.SIGSTOP)

    def healed() -> list[str] | None:
        reasons = [e.reason for e in running.events("iris")]
        tail = reasons[reasons.index("LivenessProbeFailed"):] if "LivenessProbeFailed" in reasons else []
        return tail if "RevisionReady" in tail else None

    assert healed_reasons(wait_for(healed, what="restart of the hung server")) == [
        "LivenessProbeFailed", "ProcessExited", "Restarted", "RevisionReady"]
    record = parse_exit(next(e for e in running.events("iris") if e.reason == "ProcessExited").message)
    assert record is not None and record.cause == "LivenessProbeFailed"  # the platform's kill, not an outsider's
    [new_pid] = server_pids(running.home)
    assert new_pid != pid
    assert predict(served_upstream(running.home, "iris"), IRIS_ROWS) == {"predictions": [1, 1]}


def healed_reasons(reasons: list[str]) -> list[str]:
    return reasons[: reasons.index("RevisionReady") + 1]


def test_removed_endpoint_is_pruned_with_its_api_keys(running: Platform, iris_model: Path) -> None:
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    keys = ApiKeyStore(connect(running.home.state_db))
    for endpoint in ("iris", "iris", "other"):
        keys.add(endpoint, description="", created_by="tester")
    keys.publish(running.home.api_keys_file)
    running.commit({manifest_path("iris"): None}, "remove iris")
    wait_for(lambda: running.status("iris") is None, what="status row removed")
    wait_for(lambda: not server_pids(running.home), what="process stopped")
    wait_for(lambda: "iris" not in routes(running.home)["endpoints"], what="route removed")
    reasons = [e.reason for e in running.events("iris")]
    assert "Pruned" in reasons and "ApiKeyRevoked" in reasons
    assert keys.keys("iris") == [] and len(keys.keys("other")) == 1, "a later endpoint named iris accepts no old key"
    published = json.loads(running.home.api_keys_file.read_text())["endpoints"]
    assert "iris" not in published and len(published["other"]) == 1
