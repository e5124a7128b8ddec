"""A warm spare (`python -m neuroscale.serving --spare FORMAT`) forks servers that are exactly cold starts.

The test process plays the engine: it marks itself a child subreaper for the test (`subreaper` fixture),
so each forked server becomes its child and its exit status can be read with waitpid.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.engine.subreaper import ForkedChild
from tests.conftest import IRIS_ROWS, free_port, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def spare(tmp_path: Path, subreaper: None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "neuroscale.serving", "--spare", "sklearn", "--home", str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert answer(proc) == {"ready": True}
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def answer(proc: subprocess.Popen[bytes]) -> Any:
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


def order(proc: subprocess.Popen[bytes], **fields: Any) -> Any:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(fields).encode() + b"\n")
    proc.stdin.flush()
    return answer(proc)


def flags(model: Path, port: int) -> list[str]:
    return ["--model-name", "iris", "--model-format", "sklearn", "--storage-uri", str(model), "--port", str(port),
            "--revision", "iris-predictor-00001", "--model-root", str(model.parent)]


def serving(port: int, log: Path, server: ForkedChild) -> httpx.Response | None:
    try:
        return httpx.post(f"http://127.0.0.1:{port}/v1/models/iris:predict", json={"instances": IRIS_ROWS})
    except httpx.HTTPError:
        assert server.poll() is None, log.read_text()
        return None


def test_forked_servers_serve_log_run_under_their_limit_and_are_the_engine_s_children(
        spare: subprocess.Popen[bytes], iris_model: Path, tmp_path: Path) -> None:
    servers = []
    for replica, limit in enumerate((3 << 30, None)):  # back to back: forking leaves the spare as it was
        port, log = free_port(), tmp_path / f"iris-predictor-00001.r{replica}.log"
        pid = order(spare, argv=flags(iris_model, port), log=str(log), data_limit=limit)["pid"]
        server = ForkedChild(pid)
        assert wait_for(lambda: serving(port, log, server), timeout=60, what="iris").json() == {"predictions": [1, 1]}
        assert log.read_text().startswith("ModelLoaded: iris ")
        assert resource.prlimit(pid, resource.RLIMIT_DATA)[0] == (limit or resource.RLIM_INFINITY)
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid, "its own session, as a cold start"
        assert os.readlink(f"/proc/{pid}/fd/0") == os.devnull, "it reads nothing, not the spare's orders"
        servers.append(server)
    spare.stdin.close()  # type: ignore[union-attr]
    assert spare.wait(timeout=20) == 0
    assert all(s.poll() is None for s in servers), "a spare that ends does not take its servers with it"
    os.kill(servers[0].pid, signal.SIGKILL)
    assert servers[0].wait(timeout=20) == -signal.SIGKILL
    os.kill(servers[1].pid, signal.SIGTERM)
    assert servers[1].wait(timeout=20) == 0


def test_a_forked_server_reports_a_bad_model_as_a_cold_start_does(spare: subprocess.Popen[bytes],
                                                                   tmp_path: Path) -> None:
    model = tmp_path / "models" / "model.joblib"
    model.parent.mkdir()
    model.write_bytes(b"not a pickle")
    server = ForkedChild(order(spare, argv=flags(model, free_port()), log=str(tmp_path / "r.log"))["pid"])
    assert server.wait(timeout=60) == 3
    [line] = (tmp_path / "r.log").read_text().splitlines()
    assert line.startswith("ModelLoadFailed: ")
    assert spare.poll() is None, "the spare lives on for the next start"


def test_an_order_the_spare_cannot_carry_out_is_answered_with_the_error(spare: subprocess.Popen[bytes],
                                                                        tmp_path: Path) -> None:
    assert "KeyError" in order(spare, argv=[])["error"]
    unwritable = order(spare, argv=[], log=str(tmp_path / "missing-dir" / "r.log"))["pid"]
    assert ForkedChild(unwritable).wait(timeout=20) == 1, "a server that cannot open its log exits 1"
    assert spare.poll() is None


def test_a_spare_exits_0_when_its_engine_goes_away(spare: subprocess.Popen[bytes]) -> None:
    assert spare.stdin is not None
    spare.stdin.close()
    assert spare.wait(timeout=60) == 0
