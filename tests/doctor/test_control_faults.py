"""Control-plane damage doctor used to misname or miss, diagnosed from a real home (real git, SQLite, processes).

- `main` naming a lost commit, or a garbled HEAD: the reconciler reported SourceUnavailable and doctor sent
  users to "the git-remote finding", which did not exist.
- another process holding the state database's write transaction: the waiting reconciler was called hung,
  with a stack dump and a kill of the reconciler as the fix.
- the home's disk full: the reconciler, unable to save its heartbeat, was called hung (kill and restart it)
  beside the disk finding instead of being explained by it.
- a model file replaced under a running server: silent, although restarts and new replicas would load
  other bytes than the running server serves.
- the clock moved back while the reconciler hangs: a heartbeat stamped in the future read as fresh, so
  statuses stayed Healthy and doctor stayed silent until the clock caught up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuroscale.db import connect
from neuroscale.doctor.embedded import DISK_MIN_FREE_ENV, read_embedded_snapshot
from neuroscale.doctor.model import DoctorFinding
from neuroscale.doctor.runner import diagnose
from neuroscale.engine import procfs
from neuroscale.engine.clock import iso
from neuroscale.engine.store import EngineStore, StatusStore
from neuroscale.home import Home
from neuroscale.status.conditions import ConditionType, true
from neuroscale.status.heartbeat import Heartbeat
from neuroscale.status.model import EndpointStatus, Health, Sync
from neuroscale.status.reasons import Reason
from tests.conftest import free_port, wait_for

MISSING = "1234567890123456789012345678901234567890"
_HOLD_WRITE = ("import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
               "c.execute('BEGIN IMMEDIATE')\nprint('ready', flush=True)\ntime.sleep(120)\n")


def _start(processes: list[subprocess.Popen[str]], code: str, *args: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    processes.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc.pid


def _reconciler(home: Home, processes: list[subprocess.Popen[str]], *, observed: float) -> int:
    """A live process standing for the reconciler (its command line carries `neuroscale`) and its heartbeat."""
    pid = _start(processes, "import time; print('ready', flush=True); time.sleep(120)", "neuroscale.engine")
    home.pid_file("reconciler").write_text(str(pid))
    conn = connect(home.state_db)
    try:
        store = EngineStore(conn)
        store.save_status(EndpointStatus(name="iris", namespace="default", url="", sync=Sync.Synced,
                                         health=Health.Healthy, revision="iris-predictor-00001",
                                         conditions=(true(ConditionType.Ready, "Deployed", "serves"),)))
        store.beat(Heartbeat(pid=pid, started_at=iso(observed), observed_at=iso(observed), interval=1.0))
    finally:
        conn.close()
    return pid


def _fired(home: Home, rule: str) -> list[DoctorFinding]:
    return [f for f in diagnose(read_embedded_snapshot(home, environ={})).findings if f.rule == rule]


@pytest.mark.parametrize(("damage", "said", "fix"), [
    ("refs/heads/main", f"refs/heads/main points to {MISSING}, a commit the GitOps repository does not have",
     "update-ref refs/heads/main <sha>"),
    ("HEAD", "not a git repository", "ref: refs/heads/main"),
])
def test_a_damaged_main_is_the_git_remote_finding(home: Home, damage: str, said: str, fix: str) -> None:
    assert _fired(home, "git-remote") == []
    (home.remote / damage).write_text((MISSING if damage.startswith("refs/") else "garbage") + "\n")
    [finding] = _fired(home, "git-remote")
    assert finding.message == "the GitOps remote is damaged: main cannot be read"
    assert said in finding.evidence and fix in finding.fix


def test_a_foreign_write_transaction_is_named_not_called_a_hang(home: Home,
                                                                processes: list[subprocess.Popen[str]]) -> None:
    reconciler = _reconciler(home, processes, observed=time.time() - 60)
    [hung] = _fired(home, "reconciler-heartbeat")
    assert "is hung" in hung.message and f"kill {reconciler}" in hung.fix  # nothing else holds the lock
    holder = _start(processes, _HOLD_WRITE, str(home.state_db))
    [finding] = _fired(home, "reconciler-heartbeat")
    assert finding.message == (f"the reconciler (pid {reconciler}) waits for the state database: pid {holder} holds "
                               "its write lock")
    assert f"kill {holder}" in finding.fix and f"kill {reconciler}" not in finding.fix
    assert str(home.state_db) in finding.evidence


def test_a_reconciler_that_cannot_save_on_a_full_disk_is_explained_by_the_disk(
        home: Home, processes: list[subprocess.Popen[str]]) -> None:
    reconciler = _reconciler(home, processes, observed=time.time() - 60)
    full = {DISK_MIN_FREE_ENV: str(shutil.disk_usage(home.root).free * 5 + (1 << 30))}  # free < a fifth: full
    findings = diagnose(read_embedded_snapshot(home, environ=full)).findings
    [disk] = [f for f in findings if f.rule == "disk-space"]
    [stale] = [f for f in findings if f.rule == "reconciler-heartbeat"]
    assert stale.message == (f"the reconciler (pid {reconciler}) cannot save what it observes: the disk of the "
                             "platform home is full")
    assert stale.explained_by == disk.key and "kill" not in stale.fix and "do not restart it" in stale.fix


def test_a_heartbeat_from_before_the_clock_moved_back_is_stale(home: Home,
                                                              processes: list[subprocess.Popen[str]]) -> None:
    _reconciler(home, processes, observed=time.time() + 3600)
    [finding] = _fired(home, "reconciler-heartbeat")
    assert "in the future (the clock moved back) and it has not observed since" in finding.message
    conn = connect(home.state_db)
    try:
        status = StatusStore(conn).get("iris")
    finally:
        conn.close()
    ready = status.condition(ConditionType.Ready) if status else None
    assert status is not None and status.health is Health.Unknown
    assert ready is not None and ready.reason == Reason.ReconcilerNotObserving and "the clock moved back" in ready.message


def _serve(home: Home, processes: list[subprocess.Popen[str]], model: Path) -> int:
    """A real model server of iris-predictor-00001 on `model`, recorded as the reconciler records it."""
    home.server_logs_dir.mkdir(parents=True, exist_ok=True)
    log = home.server_logs_dir / "iris-predictor-00001.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format",
                                 "sklearn", "--storage-uri", model.as_uri(), "--port", str(port), "--revision",
                                 "iris-predictor-00001", "--model-root", str(model.parent)],
                                stdout=out, stderr=out, text=True)
    processes.append(proc)
    wait_for(lambda: f":{port}" in log.read_text(), timeout=60, what="the model server to load its model")
    start = procfs.start_time(proc.pid)
    assert start is not None
    conn = connect(home.state_db)
    try:
        EngineStore(conn).add_process(pid=proc.pid, endpoint="iris", revision="iris-predictor-00001", port=port,
                                      start_time=start, started_at=iso(time.time()))
    finally:
        conn.close()
    return proc.pid


def test_a_model_file_replaced_under_a_running_server(home: Home, processes: list[subprocess.Popen[str]],
                                                      iris_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "models" / "iris.joblib"
    model.parent.mkdir()
    shutil.copy(iris_model, model)
    pid = _serve(home, processes, model)
    assert _fired(home, "model-file-changed") == []
    good = model.read_bytes()
    model.write_bytes(b"\x80\x04not a model any more")
    [finding] = _fired(home, "model-file-changed")
    assert finding.message == (f"the model file of iris-predictor-00001 was replaced since its server (pid {pid}) "
                               f"loaded it: {model}")
    assert f"{len(good)} bytes" in finding.evidence and finding.fix.startswith(f"kill {pid}")
    model.unlink()
    [gone] = _fired(home, "model-file-changed")
    assert "is gone since" in gone.message
    model.write_bytes(good)  # the same bytes, a new mtime: only a server that loads them again is sure to match
    assert len(_fired(home, "model-file-changed")) == 1
    os.kill(pid, signal.SIGKILL)
    assert _fired(home, "model-file-changed") == []  # a server that is gone serves nothing stale
