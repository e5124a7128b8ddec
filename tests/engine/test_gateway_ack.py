"""The gateway's acknowledgement file decides when a route counts as applied."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from neuroscale.engine.gateway_ack import GatewayAck


def test_no_gateway_means_nothing_to_wait_for(tmp_path: Path) -> None:
    ack = GatewayAck(tmp_path / "routes.applied")
    ack.refresh()
    assert ack.applied("2026-01-01T00:00:00.000001+00:00")


def test_live_gateway_must_have_loaded_a_new_enough_document(tmp_path: Path) -> None:
    path = tmp_path / "routes.applied"
    path.write_text(json.dumps({"updated": "2026-01-01T00:00:02.000000+00:00", "pid": os.getpid(), "port": 1}))
    ack = GatewayAck(path)
    ack.refresh()
    assert ack.applied("2026-01-01T00:00:01.000000+00:00")
    assert ack.applied("2026-01-01T00:00:02.000000+00:00")
    assert not ack.applied("2026-01-01T00:00:03.000000+00:00")
    assert ack.applied("")  # an entry never written by this reconciler run


def test_dead_gateway_is_not_waited_for(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / "routes.applied"
    path.write_text(json.dumps({"updated": "2026-01-01T00:00:00.000000+00:00", "pid": gone.pid, "port": 1}))
    ack = GatewayAck(path)
    ack.refresh()
    assert ack.applied("2026-01-01T00:00:09.000000+00:00")
