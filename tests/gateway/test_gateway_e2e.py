"""The real gateway process in front of a real model server, over loopback HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IRIS_ROWS, free_port, running

pytestmark = pytest.mark.e2e


def write_routes(path: Path, endpoints: dict[str, Any]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    updated = f"{time.time_ns()}"
    tmp.write_text(json.dumps({"version": 1, "domain": "localhost", "updated": updated, "endpoints": endpoints}))
    os.replace(tmp, path)
    return updated


@pytest.fixture()
def gateway(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    home = tmp_path / "home"
    routes = home / "run" / "routes.json"
    write_routes(routes, {})
    port = free_port()
    argv = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(port),
            "--max-body-bytes", "4096"]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/healthz"):
        yield port, routes


def call(port: int, method: str, path: str, body: Any = None, *, host: str | None = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    if host:
        headers["Host"] = host
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if data else None


def wait_for_route(port: int, path: str, expected_status: int) -> tuple[int, Any]:
    """The gateway reloads routes within ~100 ms; poll instead of sleeping a fixed time."""
    deadline = time.monotonic() + 10
    while True:
        status, body = call(port, "POST", path, {"instances": IRIS_ROWS})
        if status == expected_status or time.monotonic() > deadline:
            return status, body
        time.sleep(0.05)


def test_routes_by_path_and_host_to_the_current_revision(gateway: tuple[int, Path], iris_server: Any) -> None:
    port, routes = gateway
    server_port, _ = iris_server
    write_routes(routes, {"iris": {"namespace": "ml", "ready": True, "upstream": f"127.0.0.1:{server_port}",
                                   "revision": "iris-predictor-00001"}})
    status, body = wait_for_route(port, "/v1/models/iris:predict", 200)
    assert (status, body) == (200, {"predictions": [1, 1]})

    v2_request = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
                              "data": [x for row in IRIS_ROWS for x in row]}]}
    status, body = call(port, "POST", "/v2/models/iris/infer", v2_request)
    assert status == 200
    assert body["outputs"][0]["data"] == [1, 1]

    status, body = call(port, "POST", "/v1/models/iris:predict", {"instances": IRIS_ROWS},
                        host=f"iris.ml.localhost:{port}")
    assert (status, body) == (200, {"predictions": [1, 1]})


def test_unknown_model_is_404_naming_it(gateway: tuple[int, Path]) -> None:
    port, _ = gateway
    status, body = call(port, "POST", "/v1/models/ghost:predict", {"instances": IRIS_ROWS})
    assert status == 404
    assert "ghost" in body["error"]
    assert body["reason"] == "ModelNotFound"
    status, body = call(port, "GET", "/nothing-here")
    assert status == 404
    assert body["reason"] == "RouteNotFound"


def test_not_ready_model_is_503_with_its_condition_message(gateway: tuple[int, Path]) -> None:
    port, routes = gateway
    write_routes(routes, {"iris": {"namespace": "default", "ready": False, "reason": "ModelLoadFailed",
                                   "message": "model file /m/model.joblib does not exist"}})
    status, body = wait_for_route(port, "/v1/models/iris:predict", 503)
    assert status == 503
    assert body["reason"] == "ModelLoadFailed"
    assert "/m/model.joblib does not exist" in body["error"]


def test_dead_upstream_is_503_not_a_hang(gateway: tuple[int, Path]) -> None:
    port, routes = gateway
    write_routes(routes, {"iris": {"namespace": "default", "ready": True, "upstream": f"127.0.0.1:{free_port()}",
                                   "revision": "iris-predictor-00003"}})
    status, body = wait_for_route(port, "/v1/models/iris:predict", 503)
    assert status == 503
    assert body["reason"] == "UpstreamUnavailable"
    assert "iris-predictor-00003" in body["error"]


def test_restarted_upstream_is_reached_through_a_fresh_connection(gateway: tuple[int, Path], iris_model: Path) -> None:
    """Pooled keep-alive connections to a killed server must not turn into errors once it is back."""
    port, routes = gateway
    server_port = free_port()
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
            "--storage-uri", str(iris_model), "--port", str(server_port), "--model-root", str(iris_model.parent)]
    write_routes(routes, {"iris": {"namespace": "default", "ready": True, "upstream": f"127.0.0.1:{server_port}",
                                   "revision": "iris-predictor-00001"}})
    for _ in range(2):
        with running(argv, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready") as process:
            status, body = wait_for_route(port, "/v1/models/iris:predict", 200)
            assert (status, body) == (200, {"predictions": [1, 1]})
            process.send_signal(signal.SIGKILL)
            process.wait()


def test_oversized_body_is_413(gateway: tuple[int, Path]) -> None:
    port, _ = gateway
    status, body = call(port, "POST", "/v1/models/iris:predict", raw=b"x" * 10_000)
    assert status == 413
    assert body["reason"] == "PayloadTooLarge"


def test_malformed_http_is_400(gateway: tuple[int, Path]) -> None:
    port, _ = gateway
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")


def test_gateway_acknowledges_the_routes_it_serves(gateway: tuple[int, Path]) -> None:
    """The reconciler reports IngressReady only once the gateway says it loaded the new table."""
    _, routes = gateway
    applied = routes.with_name("routes.applied")
    updated = write_routes(routes, {"iris": {"namespace": "default", "ready": False, "message": "starting"}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if applied.exists() and json.loads(applied.read_text())["updated"] == updated:
            break
        time.sleep(0.02)
    assert json.loads(applied.read_text())["updated"] == updated
