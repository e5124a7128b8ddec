"""Issue 10 item 8: every embedded fault injected on a real running platform, diagnosed, repaired, silent.

One platform (reconciler, gateway, portal and model servers as real processes)
goes through every fault in turn, so the last checks also prove item 6: after
a whole history of repaired faults, doctor exits 0 with no findings. The
matrix is printed (`-s` shows it; `make bench` reruns it with timings into
bench/RESULTS.md). Timings are reported, never asserted.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from neuroscale.cli.main import main
from neuroscale.status.model import Health
from tests.e2e.fault_catalogue import FAULTS
from tests.e2e.faults import HEADER, live_platform, run_fault, wait_for

pytestmark = pytest.mark.e2e


def test_every_fault_is_named_repaired_and_forgotten(tmp_path: Path, iris_model: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    with live_platform(tmp_path, iris_model) as live:
        for fault in FAULTS:
            rows.append(run_fault(live, fault))
            assert rows[-1].named and rows[-1].silent, "\n".join([HEADER, *(r.line() for r in rows)])
        # A hung reconciler turns statuses Unknown (within three heartbeats), and back.
        os.kill(live.pid("reconciler"), signal.SIGSTOP)
        try:
            stale = wait_for(lambda: (s := live.status()) is not None and s.health is Health.Unknown and s,
                             timeout=30, what="Unknown while the reconciler is hung")
            assert "hung, stopped or dead" in stale.conditions[0].message
        finally:
            os.kill(live.pid("reconciler"), signal.SIGCONT)
        wait_for(live.silent, timeout=60, what="silence once the reconciler observes again")
        # Item 6 through the real CLI: after all of that history, exit 0 and no findings.
        capsys.readouterr()
        os.environ.update(live.env)
        try:
            code = main(["doctor", "--home", str(live.home.root)])
        finally:
            for key in live.env:
                os.environ.pop(key, None)
        out = capsys.readouterr().out
    assert code == 0 and "healthy: no rule fired" in out, out
    with capsys.disabled():
        print("\n" + "\n".join([HEADER, *(r.line() for r in rows)]))
