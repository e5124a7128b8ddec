"""A supervisor killed outright (SIGKILL, the OOM killer) cannot stop its components: they run on in their own
sessions. The next `neuroscale up` on the home, or `neuroscale down`, finds and stops them, and says so."""

from __future__ import annotations

import os
import subprocess
from contextlib import AbstractContextManager
import signal
import sys
from pathlib import Path

import pytest

from neuroscale.cli.main import main
from neuroscale.engine.procfs import start_time
from neuroscale.home import Home
from neuroscale.ports import free_port
from tests.conftest import running, wait_for

pytestmark = pytest.mark.e2e
COMPONENTS = ("reconciler", "gateway", "portal")


def _up(home: Home, *, portal: int, gateway: int, log: Path) -> AbstractContextManager["subprocess.Popen[bytes]"]:
    argv = [sys.executable, "-m", "neuroscale", "up", "--home", str(home.root), "--portal-port", str(portal),
            "--gateway-port", str(gateway)]
    return running(argv, ready_url=f"http://127.0.0.1:{portal}/healthz",
                   also_ready=(f"http://127.0.0.1:{gateway}/healthz",), stop=signal.SIGINT, grace=30, log_path=log)


def _pids(home: Home) -> dict[str, int]:
    wait_for(lambda: all(home.pid_file(c).exists() for c in COMPONENTS), what="pid files")
    return {c: int(home.pid_file(c).read_text()) for c in COMPONENTS}


def _alive(pid: int) -> bool:
    return start_time(pid) is not None


def _shadow_worker(home: Home) -> int:
    """The gateway's shadow worker: its one child process, which must go wherever the gateway goes."""
    gateway = int(home.pid_file("gateway").read_text())
    path = Path(f"/proc/{gateway}/task/{gateway}/children")
    return wait_for(lambda: next(iter(int(pid) for pid in path.read_text().split()), None), what="shadow worker")


def test_a_killed_supervisor_s_components_are_stopped_by_the_next_up_and_by_down(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = Home(tmp_path / "platform")
    portal, gateway = free_port(), free_port()
    with _up(home, portal=portal, gateway=gateway, log=tmp_path / "first.log") as supervisor:
        first = _pids(home)
        first_worker = _shadow_worker(home)
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait()
    assert all(_alive(pid) for pid in first.values()), "components outlive a killed supervisor"

    # Its ports still answer: `running` sees them at once, so wait for the new supervisor's own components.
    with _up(home, portal=portal, gateway=gateway, log=tmp_path / "second.log") as supervisor:
        wait_for(lambda: all(home.pid_file(c).exists() and int(home.pid_file(c).read_text()) != first[c]
                             for c in COMPONENTS) and "NeuroScale is up" in (tmp_path / "second.log").read_text(),
                 timeout=60, what="the second supervisor's components")
        second = _pids(home)
        second_worker = _shadow_worker(home)
        assert not any(_alive(pid) for pid in [*first.values(), first_worker]), "the next up stopped what was left"
        assert not set(second.values()) & set(first.values())
        said = (tmp_path / "second.log").read_text()
        assert all(f"stopped the {c} (pid {first[c]}) an earlier supervisor left running" in said
                   for c in COMPONENTS), said
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait()

    capsys.readouterr()
    assert main(["down", "--home", str(home.root)]) == 0
    out = capsys.readouterr().out
    assert not any(_alive(pid) for pid in [*second.values(), second_worker]), "down stopped what was left"
    assert "an earlier supervisor left running" in out and all(not home.pid_file(c).exists() for c in COMPONENTS)
    assert main(["down", "--home", str(home.root)]) != 0, "nothing left: down says no platform is running"
