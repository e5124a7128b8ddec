"""Restarting the reconciler adopts its model servers, kills orphans and starts nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from neuroscale.engine.procfs import SERVING_MODULE
from neuroscale.engine.runtime import stop_all
from neuroscale.serving.spare import READY_PREFIX
from tests.conftest import IRIS_ROWS, free_port
from tests.engine.conftest import Platform, iris_spec, predict, routes, server_pids, wait_for

R1 = "iris-predictor-00001"


def test_restart_adopts_servers_and_kills_orphans(platform: Platform, iris_model: Path) -> None:
    platform.start_engine()
    platform.deploy(iris_spec(iris_model))
    platform.wait_ready("iris", revision=R1)
    [pid] = server_pids(platform.home)
    platform.stop_engine()

    upstream = routes(platform.home)["endpoints"]["iris"]["upstream"]
    assert predict(upstream, IRIS_ROWS) == {"predictions": [1, 1]}  # serving while the reconciler is down
    orphan = subprocess.Popen(
        [sys.executable, "-m", SERVING_MODULE, "--model-name", "ghost", "--model-format", "sklearn",
         "--storage-uri", str(iris_model), "--port", str(free_port()), "--revision", "ghost-predictor-00001",
         "--home", str(platform.home.root), "--model-root", str(iris_model.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_for(lambda: orphan.pid in server_pids(platform.home), what="orphan visible")
        platform.start_engine()
        wait_for(lambda: orphan.poll() is not None, what="orphan stopped")
        def adopted() -> list[str] | None:
            reasons = [e.reason for e in platform.events("iris")]
            return reasons if "RevisionAdopted" in reasons else None

        reasons = wait_for(adopted, what="adoption event")
        assert reasons.count("RevisionStarting") == 1 and "Restarted" not in reasons
        assert "OrphanKilled" in [e.reason for e in platform.events("ghost")]
        status = platform.wait_ready("iris", revision=R1)
        assert server_pids(platform.home) == [pid] and status.revision == R1
        assert routes(platform.home)["endpoints"]["iris"]["upstream"] == upstream
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()
    platform.stop_engine()
    assert stop_all(platform.home) == 1
    assert server_pids(platform.home) == []


def test_a_server_made_from_a_warm_spare_is_adopted_after_a_restart(platform: Platform, iris_model: Path) -> None:
    platform.start_engine()
    platform.deploy(iris_spec(iris_model))  # a spare of its kind waits from then on
    platform.wait_ready("iris", revision=R1)
    spare_log = platform.home.server_logs_dir / "spares" / "sklearn.log"
    wait_for(lambda: spare_log.exists() and READY_PREFIX in spare_log.read_text(), timeout=60, what="a ready spare")
    [cold] = server_pids(platform.home)
    os.kill(cold, signal.SIGKILL)
    [warm] = wait_for(lambda: [p for p in server_pids(platform.home, R1) if p != cold] or None, what="a restart")
    wait_for(lambda: [e for e in platform.events("iris") if e.reason == "RevisionReady"][1:], timeout=60,
             what="the restarted server ready")
    assert [e.message for e in platform.events("iris") if e.reason == "Restarted"][0].count("from a warm spare") == 1
    platform.stop_engine()
    platform.start_engine()
    wait_for(lambda: "RevisionAdopted" in [e.reason for e in platform.events("iris")], what="adoption event")
    assert server_pids(platform.home) == [warm]
    assert predict(routes(platform.home)["endpoints"]["iris"]["upstream"], IRIS_ROWS) == {"predictions": [1, 1]}
