"""End to end: the real `python -m neuroscale.serving` process over real HTTP on loopback."""

from __future__ import annotations

import email.utils
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from tests.conftest import IRIS_ROWS, free_port, running

pytestmark = pytest.mark.e2e
FLAT_ROWS = [x for row in IRIS_ROWS for x in row]


def server_argv(*, name: str, model_format: str, uri: str, port: int, root: Path | None = None,
                extra: tuple[str, ...] = ()) -> list[str]:
    roots = ("--model-root", str(root)) if root is not None else ()
    return [sys.executable, "-m", "neuroscale.serving", "--model-name", name, "--model-format", model_format,
            "--storage-uri", uri, "--port", str(port), *roots, *extra]


def serve(*, name: str, model_format: str, uri: str, root: Path | None = None, extra: tuple[str, ...] = (),
          env: dict[str, str] | None = None) -> Any:
    """Context manager: a ready server process; yields its base URL."""
    port = free_port()
    argv = server_argv(name=name, model_format=model_format, uri=uri, port=port, root=root, extra=extra)
    return port, running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready", env=env)


@pytest.fixture(scope="module")
def iris_url(iris_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    port, server = serve(name="iris", model_format="sklearn", uri=f"file://{iris_model}", root=iris_model.parent,
                         extra=("--revision", "iris-predictor-00001", "--home", str(home), "--max-body-bytes", "4096"))
    with server:
        yield f"http://127.0.0.1:{port}"


def test_v1_and_v2_answer_iris(iris_url: str) -> None:
    with httpx.Client(base_url=iris_url) as client:
        assert client.get("/v1/models/iris").json() == {"name": "iris", "ready": True}
        assert client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS}).json() == {"predictions": [1, 1]}
        body = {"id": "e2e-1", "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": FLAT_ROWS}]}
        answer = client.post("/v2/models/iris/infer", json=body).json()
        assert answer["id"] == "e2e-1" and answer["model_version"] == "iris-predictor-00001"
        assert answer["outputs"] == [{"name": "output-0", "shape": [2], "datatype": "INT64", "data": [1, 1]}]
        metadata = client.get("/v2/models/iris").json()
        assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
        assert client.get("/v2/models/iris/ready").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "reason"),
    [
        ("POST", "/v1/models/iris:predict", b'{"instances": [[6.8, 2.8', 422, "InvalidInput"),
        ("POST", "/v1/models/iris:predict", b'{"instances": [[6.8, 2.8, 4.8]]}', 422, "InvalidInput"),
        ("POST", "/v2/models/iris/infer", b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", '
                                          b'"data": ["a", "b", "c", "d"]}]}', 422, "InvalidInput"),
        ("POST", "/v1/models/iris:predict", b'{"instances": [' + b"[1, 2, 3, 4]," * 400 + b"[1, 2, 3, 4]]}", 413,
         "PayloadTooLarge"),
        ("POST", "/v1/models/other:predict", b'{"instances": []}', 404, "NotFound"),
        ("PUT", "/v2/models/iris/infer", b"{}", 405, "MethodNotAllowed"),
    ],
)
def test_bad_requests_over_http_are_4xx_json(iris_url: str, method: str, path: str, content: bytes, status: int,
                                             reason: str) -> None:
    response = httpx.request(method, iris_url + path, content=content,
                             headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["reason"] == reason


def test_the_date_header_stays_current_while_the_server_idles(iris_url: str) -> None:
    """The server ticks once a second instead of uvicorn's ten (`serving.quiet`); HTTP dates keep up."""
    for _ in range(3):
        time.sleep(1.3)  # longer than a tick: a header refreshed only at start or per request would lag
        date = httpx.get(f"{iris_url}/v2/health/live").headers["date"]
        assert abs(time.time() - email.utils.parsedate_to_datetime(date).timestamp()) < 2.5


def _requests_total(text: str, protocol: str, status: str) -> float:
    key = f'neuroscale_model_requests_total{{model="iris",protocol="{protocol}",status="{status}"}} '
    lines = [line for line in text.splitlines() if line.startswith(key)]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_metrics_are_exposed_and_count(iris_url: str) -> None:
    with httpx.Client(base_url=iris_url) as client:
        before = client.get("/metrics").text
        for _ in range(3):
            client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS})
        client.post("/v1/models/iris:predict", content=b"{")
        after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    assert _requests_total(after.text, "v1", "200") == _requests_total(before, "v1", "200") + 3
    assert _requests_total(after.text, "v1", "422") == _requests_total(before, "v1", "422") + 1
    assert "neuroscale_model_request_duration_seconds_bucket" in after.text


@pytest.mark.parametrize(("model_format", "attr"), [("xgboost", "native"), ("xgboost", "wrapper"),
                                                    ("lightgbm", "native"), ("lightgbm", "wrapper")])
def test_xgboost_and_lightgbm_models_are_served(model_format: str, attr: str, xgboost_model: Any,
                                                lightgbm_model: Any) -> None:
    trained = {"xgboost": xgboost_model, "lightgbm": lightgbm_model}[model_format]
    expected = getattr(trained, f"{attr}_predictions")
    port, server = serve(name="m", model_format=model_format, uri=str(getattr(trained, attr).parent),
                         root=getattr(trained, attr).parent)
    with server, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        v1 = client.post("/v1/models/m:predict", json={"instances": IRIS_ROWS}).json()["predictions"]
        v2 = client.post("/v2/models/m/infer", json={"inputs": [
            {"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": FLAT_ROWS}]}).json()
    assert np.allclose(v1, expected, atol=1e-6)
    assert np.allclose(np.reshape(v2["outputs"][0]["data"], v2["outputs"][0]["shape"]), expected, atol=1e-6)


def test_s3_model_is_downloaded_and_served(s3_env: dict[str, str], s3_upload: Callable[[str, dict[str, Path]], None],
                                           iris_model: Path, tmp_path: Path) -> None:
    s3_upload("e2e-models", {"iris/model.joblib": iris_model})
    env = {**os.environ, **s3_env}
    port, server = serve(name="iris", model_format="sklearn", uri="s3://e2e-models/iris/",
                         extra=("--cache-dir", str(tmp_path)), env=env)
    with server:
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/iris:predict", json={"instances": IRIS_ROWS})
    assert answer.json() == {"predictions": [1, 1]}
    assert [p.name for p in tmp_path.rglob("model.joblib")] == ["model.joblib"]


def _port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize(
    ("make_uri", "model_format", "message"),
    [
        (lambda tmp: "gs://bucket/iris", "sklearn", "unsupported storage scheme 'gs'"),
        (lambda tmp: str(tmp / "missing.joblib"), "sklearn", "no model file at this storage URI"),
        (lambda tmp: "file:///etc/passwd", "sklearn", "no model file at this storage URI"),
        (lambda tmp: _corrupt(tmp / "model.joblib"), "sklearn", "cannot load the file as a sklearn model"),
        (lambda tmp: _corrupt(tmp / "model.json"), "sklearn", "is --model-format right?"),
    ],
)
def test_load_failures_exit_3_with_one_line_before_binding(tmp_path: Path, make_uri: Callable[[Path], str],
                                                           model_format: str, message: str) -> None:
    port = free_port()
    argv = server_argv(name="bad", model_format=model_format, uri=make_uri(tmp_path), port=port, root=tmp_path)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ModelLoadFailed: ") and message in lines[0]
    assert "fix: " in lines[0] and "Traceback" not in result.stderr
    assert _port_is_closed(port)


def test_busy_port_exits_4_not_3(iris_model: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = server_argv(name="iris", model_format="sklearn", uri=str(iris_model), port=port,
                           root=iris_model.parent)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines()[-1].startswith(f"PortUnavailable: cannot listen on 127.0.0.1:{port}")


def _corrupt(path: Path) -> str:
    path.write_bytes(b"\x80\x04 this is not a model")
    return str(path)


def test_sigterm_finishes_the_request_in_flight_then_exits_0(iris_model: Path) -> None:
    port, server = serve(name="iris", model_format="sklearn", uri=str(iris_model), root=iris_model.parent)
    body = orjson.dumps({"instances": IRIS_ROWS})
    head = (f"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with server as process, socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head + body[:10])  # the request is now in flight: half of its body has arrived
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _port_is_closed(port) and time.monotonic() < deadline:
            time.sleep(0.02)  # shutdown has begun once the listener refuses new connections
        assert _port_is_closed(port)
        conn.sendall(body[10:])
        answer = b""
        while chunk := conn.recv(65536):  # the server closes the connection after answering
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"predictions":[1,1]}')
        assert process.wait(timeout=15) == 0
