"""A warm spare (`python -m neuroscale.serving --spare FORMAT`) becomes the server it is handed, exactly."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IRIS_ROWS, free_port, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def spare(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "neuroscale.serving", "--spare", "sklearn", "--home", str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def hand_over(proc: subprocess.Popen[bytes], *, argv: list[str], log: Path, data_limit: int | None = None) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"argv": argv, "log": str(log), "data_limit": data_limit}).encode() + b"\n")
    proc.stdin.close()


def flags(model: Path, port: int) -> list[str]:
    return ["--model-name", "iris", "--model-format", "sklearn", "--storage-uri", str(model), "--port", str(port),
            "--revision", "iris-predictor-00001", "--model-root", str(model.parent)]


def test_a_handed_over_spare_serves_logs_and_runs_under_its_limit(spare: subprocess.Popen[bytes], iris_model: Path,
                                                                  tmp_path: Path) -> None:
    port, log, limit = free_port(), tmp_path / "iris-predictor-00001.log", 3 << 30
    hand_over(spare, argv=flags(iris_model, port), log=log, data_limit=limit)

    def answer() -> httpx.Response | None:
        try:
            return httpx.post(f"http://127.0.0.1:{port}/v1/models/iris:predict", json={"instances": IRIS_ROWS})
        except httpx.HTTPError:
            assert spare.poll() is None, log.read_text()
            return None

    assert wait_for(answer, timeout=60, what="the spare serving iris").json() == {"predictions": [1, 1]}
    assert log.read_text().startswith("ModelLoaded: iris ")
    assert resource.prlimit(spare.pid, resource.RLIMIT_DATA) == (limit, limit)
    spare.terminate()
    assert spare.wait(timeout=20) == 0


def test_a_spare_reports_a_bad_model_as_a_cold_start_does(spare: subprocess.Popen[bytes], tmp_path: Path) -> None:
    model = tmp_path / "models" / "model.joblib"
    model.parent.mkdir()
    model.write_bytes(b"not a pickle")
    hand_over(spare, argv=flags(model, free_port()), log=tmp_path / "r.log")
    assert spare.wait(timeout=60) == 3
    [line] = (tmp_path / "r.log").read_text().splitlines()
    assert line.startswith("ModelLoadFailed: ")


def test_a_spare_exits_0_when_its_engine_goes_away(spare: subprocess.Popen[bytes]) -> None:
    assert spare.stdin is not None
    spare.stdin.close()
    assert spare.wait(timeout=60) == 0
