"""/proc identity: start time guards against pid reuse; the markers find a home's servers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuroscale.engine import procfs
from tests.engine.conftest import wait_for


@pytest.fixture
def marked(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A sleeping process whose command line carries the model-server markers for `tmp_path`."""
    code = "import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, procfs.SERVING_MODULE, "--revision", "x-predictor-00001",
                             "--home", str(tmp_path)])
    yield proc
    proc.kill()
    proc.wait()


def test_start_time_identity() -> None:
    started = procfs.start_time(os.getpid())
    assert started is not None and started > 0
    assert procfs.is_alive(os.getpid(), started)
    assert not procfs.is_alive(os.getpid(), started + 1)
    assert procfs.start_time(2**22 + 7) is None


def test_serving_processes_by_home(marked: subprocess.Popen[bytes], tmp_path: Path) -> None:
    found = wait_for(lambda: list(procfs.serving_processes(tmp_path)), what="cmdline visible after exec")
    assert [(p.pid, p.revision) for p in found] == [(marked.pid, "x-predictor-00001")]
    assert list(procfs.serving_processes(tmp_path / "other")) == []
    marked.kill()
    marked.wait()
    assert not procfs.is_alive(found[0].pid, found[0].start_time)


@pytest.mark.parametrize(("log", "revision"), [("logs/servers/x-predictor-00001.r2.log", "x-predictor-00001"),
                                               ("logs/servers/x-predictor-00001.log", "x-predictor-00001"),
                                               ("logs/servers/spares/sklearn.log", "")])
def test_a_spare_serves_the_revision_it_logs_for(tmp_path: Path, log: str, revision: str) -> None:
    output = tmp_path / log
    output.parent.mkdir(parents=True)
    with output.open("ab") as stdout:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", procfs.SERVING_MODULE,
                                 procfs.SPARE_FLAG, "sklearn", "--home", str(tmp_path)], stdout=stdout)
    try:
        found = wait_for(lambda: list(procfs.serving_processes(tmp_path)), what="cmdline visible after exec")
        assert [(p.pid, p.revision) for p in found] == [(proc.pid, revision)]
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("revision", "replica"), [("iris-predictor-00001", 0), ("a-pr-2-predictor-00003", 11)])
def test_log_names_give_their_revision_back(revision: str, replica: int) -> None:
    assert procfs.revision_of_log(procfs.log_name(revision, replica)) == revision
