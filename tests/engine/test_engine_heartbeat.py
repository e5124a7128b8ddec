"""The reconciler's heartbeat and its routes file, with a real reconciler process.

A hung (SIGSTOP) reconciler leaves its last status rows behind; readers must
turn them Unknown within three heartbeat intervals instead of showing a stale
Healthy, and back once it observes again. A routes file replaced behind its
back is rewritten.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuroscale.status.conditions import ConditionType
from neuroscale.status.model import Health
from neuroscale.status.reasons import Reason
from tests.engine.conftest import Platform, iris_spec, routes, wait_for


@pytest.fixture
def beating(platform: Platform) -> Iterator[Platform]:
    """A reconciler publishing a heartbeat every 0.2 s (statuses stale after 0.6 s)."""
    log = (platform.home.root / "engine.log").open("ab")
    platform.engine = subprocess.Popen(
        [sys.executable, "-m", "neuroscale.engine", "--home", str(platform.home.root), "--interval", "0.05",
         "--gateway-port", str(platform.gateway_port), "--heartbeat-interval", "0.2"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    yield platform
    if platform.engine is not None and platform.engine.poll() is None:
        os.kill(platform.engine.pid, signal.SIGCONT)  # so the platform fixture can stop it


def test_hung_reconciler_turns_status_unknown_and_back(beating: Platform, iris_model: Path) -> None:
    beating.deploy(iris_spec(iris_model))
    beating.wait_ready("iris")
    store = beating.store()
    try:
        beat = store.heartbeat()
        assert beat is not None and beat.pid == beating.engine.pid and beat.interval == 0.2  # type: ignore[union-attr]
        assert store.get("iris").observed_age is not None  # type: ignore[union-attr]
        os.kill(beating.engine.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        stale = wait_for(lambda: (s := store.get("iris")) and s.health is Health.Unknown and s, what="Unknown")
        ready = stale.condition(ConditionType.Ready)
        assert ready is not None and ready.status.value == "Unknown" and ready.reason == Reason.ReconcilerNotObserving
        assert f"pid {beating.engine.pid}" in ready.message and "hung, stopped or dead" in ready.message  # type: ignore[union-attr]
        assert stale.observed_age is not None and stale.observed_age >= 0.6
        assert store.saved_endpoints()[0].health is Health.Healthy  # the row itself is untouched
        os.kill(beating.engine.pid, signal.SIGCONT)  # type: ignore[union-attr]
        wait_for(lambda: (s := store.get("iris")) and s.health is Health.Healthy, what="Healthy again")
    finally:
        store.conn.close()


def test_clean_stop_says_so(beating: Platform, iris_model: Path) -> None:
    beating.deploy(iris_spec(iris_model))
    beating.wait_ready("iris")
    beating.stop_engine()
    status = beating.status("iris")
    assert status is not None and status.health is Health.Unknown
    ready = status.condition(ConditionType.Ready)
    assert ready is not None and "stopped at" in ready.message


def test_routes_file_changed_behind_its_back_is_rewritten(beating: Platform, iris_model: Path) -> None:
    beating.deploy(iris_spec(iris_model))
    beating.wait_ready("iris")
    good = routes(beating.home)
    stale = json.loads(json.dumps(good))
    stale["endpoints"]["iris"]["upstream"] = "127.0.0.1:9"
    stale["endpoints"]["iris"]["traffic"][0]["upstreams"] = ["127.0.0.1:9"]
    beating.home.routes_file.write_text(json.dumps(stale))
    wait_for(lambda: routes(beating.home)["endpoints"] == good["endpoints"], what="routes rewritten")
    # The event follows the rewrite within the same tick: wait for it rather than race it.
    wait_for(lambda: any(e.reason == Reason.RoutesRewritten for e in beating.events("")), what="the event")
