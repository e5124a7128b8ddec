"""One process serving many models (`python -m neuroscale.serving --shared FORMAT`): load, unload, isolation.

The test plays the engine: orders on the process's stdin, answers and `gone` notices on its stdout,
each model's load record read from its own revision log, requests over real HTTP to each model's port.
"""

from __future__ import annotations

import json
import operator
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest

from tests.conftest import IRIS_ROWS, free_port, wait_for

pytestmark = pytest.mark.e2e


class Shared:
    """The test's side of the pipe: orders out, answers in, `gone` notices kept aside."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "neuroscale.serving", "--shared", "sklearn", "--home", str(home)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(home / "shared.log").open("ab"))
        self.gone: dict[int, int] = {}
        self.buffer = b""
        assert self._line(timeout=60) == {"ready": True}

    def _line(self, *, timeout: float) -> Any:
        """The next line, read from the raw pipe (a buffered reader could hold it where `select` cannot see)."""
        assert self.proc.stdout is not None
        while b"\n" not in self.buffer:
            assert select.select([self.proc.stdout], [], [], timeout)[0], "no answer from the shared process"
            self.buffer += os.read(self.proc.stdout.fileno(), 65536)
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def order(self, **fields: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(fields).encode() + b"\n")
        self.proc.stdin.flush()
        while "gone" in (answer := self._line(timeout=20)):
            self.gone[answer["gone"]] = answer["code"]
        return answer

    def wait_gone(self, port: int) -> int:
        while port not in self.gone:
            answer = self._line(timeout=20)
            self.gone[answer["gone"]] = answer["code"]
        return self.gone.pop(port)

    def load(self, model: Path, *, name: str, port: int | None = None) -> tuple[int, Path]:
        port = port or free_port()
        log = self.home / f"{name}-predictor-00001.r0.log"
        argv = ["--model-name", name, "--model-format", "sklearn", "--storage-uri", str(model), "--port", str(port),
                "--revision", f"{name}-predictor-00001", "--model-root", str(model.parent.parent)]
        assert self.order(load={"argv": argv, "log": str(log)}) == {"port": port}
        return port, log


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Shared]:
    process = Shared(tmp_path)
    yield process
    if process.proc.poll() is None:
        process.proc.kill()
    process.proc.wait()


def predict(port: int, name: str, rows: list[list[float]] = IRIS_ROWS) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/v1/models/{name}:predict", json={"instances": rows}, timeout=10)


def answering(port: int, name: str) -> httpx.Response | None:
    try:
        return predict(port, name)
    except httpx.ConnectError:  # bound, not listening yet: still loading
        return None


def test_two_models_load_and_answer_each_on_its_port_with_its_own_load_record(
        shared: Shared, iris_model: Path, constant_model: Path) -> None:
    iris, iris_log = shared.load(iris_model, name="iris")
    constant, constant_log = shared.load(constant_model, name="constant")
    assert wait_for(lambda: answering(iris, "iris"), timeout=30).json() == {"predictions": [1, 1]}
    assert wait_for(lambda: answering(constant, "constant"), timeout=30).json() == {"predictions": [0, 0]}
    assert iris_log.read_text().startswith("ModelLoaded: iris ")
    assert constant_log.read_text().startswith("ModelLoaded: constant ")
    assert httpx.get(f"http://127.0.0.1:{iris}/v2/health/ready").status_code == 200
    assert "date" in httpx.get(f"http://127.0.0.1:{iris}/v2/health/live").headers


def test_a_bad_model_file_fails_only_its_own_load(shared: Shared, iris_model: Path, model_dir: Path) -> None:
    broken = model_dir / "model.joblib"
    broken.write_bytes(b"not a pickle")
    iris, _ = shared.load(iris_model, name="iris")
    bad, bad_log = shared.load(broken, name="broken")
    assert shared.wait_gone(bad) == 3, "a dedicated server's exit code for a failed load"
    assert bad_log.read_text().startswith("ModelLoadFailed: ")
    assert wait_for(lambda: answering(iris, "iris"), timeout=30).json() == {"predictions": [1, 1]}
    with pytest.raises(httpx.ConnectError):
        predict(bad, "broken")
    assert shared.proc.poll() is None


def test_a_predict_that_raises_is_that_request_s_error_only(shared: Shared, iris_model: Path,
                                                            model_dir: Path) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    # Row 10 of the request: a request of fewer rows raises IndexError inside the model's own predict.
    raising = Pipeline([("pick", FunctionTransformer(operator.itemgetter(10))), ("clf", joblib.load(iris_model))])
    joblib.dump(raising, model_dir / "model.joblib")
    iris, _ = shared.load(iris_model, name="iris")
    bad, _ = shared.load(model_dir / "model.joblib", name="raises")
    wait_for(lambda: answering(iris, "iris"), timeout=30)
    failed = wait_for(lambda: answering(bad, "raises"), timeout=30)
    assert failed.status_code == 500 and "reason" in failed.json()
    assert predict(iris, "iris").json() == {"predictions": [1, 1]}
    assert predict(bad, "raises").status_code == 500, "the model still serves (and fails) its own requests"


def test_unload_lets_in_flight_requests_finish_and_refuses_new_ones(shared: Shared, iris_model: Path) -> None:
    port, _ = shared.load(iris_model, name="iris")
    wait_for(lambda: answering(port, "iris"), timeout=30)
    results: list[int | str] = []
    started = threading.Event()

    def slow_request() -> None:
        # A body sent in two parts: the request is in flight from its head until its last byte.
        def body() -> Iterator[bytes]:
            yield b'{"instances": '
            started.set()
            threading.Event().wait(0.5)
            yield json.dumps(IRIS_ROWS).encode() + b"}"

        try:
            results.append(httpx.post(f"http://127.0.0.1:{port}/v1/models/iris:predict", content=body(),
                                      headers={"content-type": "application/json"}, timeout=10).status_code)
        except httpx.HTTPError as exc:
            results.append(type(exc).__name__)

    worker = threading.Thread(target=slow_request)
    worker.start()
    assert started.wait(10)
    assert shared.order(unload=port) == {"unloading": port}
    with pytest.raises(httpx.ConnectError):  # new connections: refused at once, never a hang
        predict(port, "iris")
    worker.join(20)
    assert results == [200], "the in-flight request finished"
    assert shared.wait_gone(port) == 0
    assert shared.order(unload=port) == {"error": f"no model on port {port}", "code": 0}


def test_load_unload_load_again_on_the_same_port(shared: Shared, iris_model: Path) -> None:
    port, log = shared.load(iris_model, name="iris")
    wait_for(lambda: answering(port, "iris"), timeout=30)
    shared.order(unload=port, drain=False)
    assert shared.wait_gone(port) == -signal.SIGKILL
    shared.load(iris_model, name="iris", port=port)
    assert wait_for(lambda: answering(port, "iris"), timeout=30).json() == {"predictions": [1, 1]}
    assert log.read_text().count("ModelLoaded: iris ") == 2


def test_bad_orders_are_answered_and_the_process_serves_on(shared: Shared, iris_model: Path) -> None:
    assert shared.order(reload=1)["error"] == "unknown order: expected 'load' or 'unload'"
    port, log = shared.load(iris_model, name="iris")
    taken = shared.order(load={"argv": ["--model-name", "x", "--model-format", "sklearn", "--port", str(port)],
                               "log": str(log)})
    assert taken == {"error": f"port {port} already serves a model here", "code": 4}
    wrong = shared.order(load={"argv": ["--model-name", "x", "--model-format", "onnx", "--port", "1"], "log": str(log)})
    assert wrong["error"] == "this process serves sklearn models, not onnx"
    assert log.read_text().splitlines()[-1] == "SharedLoadRefused: this process serves sklearn models, not onnx"
    assert wait_for(lambda: answering(port, "iris"), timeout=30).status_code == 200


def test_sigkill_of_the_process_takes_every_model(shared: Shared, iris_model: Path, constant_model: Path) -> None:
    ports = [shared.load(iris_model, name="iris")[0], shared.load(constant_model, name="constant")[0]]
    for port, name in zip(ports, ("iris", "constant"), strict=True):
        wait_for(lambda: answering(port, name), timeout=30)  # noqa: B023 - called within the iteration
    shared.proc.kill()
    assert shared.proc.wait(10) == -signal.SIGKILL
    for port in ports:
        with pytest.raises(httpx.ConnectError):
            predict(port, "iris")


def test_eof_unloads_every_model_and_exits_0(shared: Shared, iris_model: Path) -> None:
    port, _ = shared.load(iris_model, name="iris")
    wait_for(lambda: answering(port, "iris"), timeout=30)
    assert shared.proc.stdin is not None
    shared.proc.stdin.close()
    assert shared.proc.wait(20) == 0
