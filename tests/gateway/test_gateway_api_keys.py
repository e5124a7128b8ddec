"""API keys at the real gateway: keys made by the real key service in a real platform home, a real model
server behind it (HTTP and gRPC), and a stand-in upstream that shows what the gateway forwards."""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuroscale.home import Home
from neuroscale.ports import free_port_pair
from neuroscale.services.api_keys import create_key, revoke_key
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import create_endpoint
from tests.conftest import IRIS_ROWS, free_port, running, wait_for
from tests.gateway.conftest import StandIn
from tests.gateway.test_gateway_e2e import write_routes
from tests.services.conftest import ALICE, make_spec

pytestmark = pytest.mark.e2e

PREDICT = "/v1/models/iris:predict"
V2_INFER = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
                        "data": [x for row in IRIS_ROWS for x in row]}]}
FORGED = "nsk_" + "A" * 43  # shaped like a key, never issued


@dataclass
class Stack:
    home: Home
    gateway: int
    grpc: int
    log: Path
    echo: StandIn  # upstream of `echo`, which accepts iris's keys (as a preview does)
    gateway_pid: int

    def key(self, description: str = "") -> tuple[str, str]:
        """A new key for iris (id, key), once the gateway admits it."""
        with PlatformContext.open(self.home) as ctx:
            created = create_key(ctx, "iris", description=description, actor=ALICE)
        wait_for(lambda: ask(self.gateway, "POST", PREDICT, key=created.secret)[0] == 200, what="the new key works")
        return created.key.id, created.secret

    def revoke(self, key_id: str) -> None:
        with PlatformContext.open(self.home) as ctx:
            revoke_key(ctx, "iris", key_id, actor=ALICE)


def ask(port: int, method: str, path: str, body: Any = None, *, key: str | None = None, host: str | None = None,
        headers: list[tuple[str, str]] | None = None) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, path, skip_host=host is not None)
    sent = [("Content-Type", "application/json"), *(headers or [])]
    if host is not None:
        sent.append(("Host", host))
    if key is not None:
        sent.append(("Authorization", f"Bearer {key}"))
    payload = json.dumps(body if body is not None else {"instances": IRIS_ROWS}).encode() if method == "POST" else b""
    for name, value in [*sent, ("Content-Length", str(len(payload)))]:
        connection.putheader(name, value)
    connection.endheaders(payload)
    response = connection.getresponse()
    data = response.read()
    answer = {name.lower(): value for name, value in response.getheaders()}
    connection.close()
    parsed = json.loads(data) if data and answer.get("content-type") == "application/json" else data
    return response.status, answer, parsed


@pytest.fixture(scope="module")
def stack(iris_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("api-keys")
    home = Home(root / "home")
    with PlatformContext.open(home, create=True) as ctx:  # keys are made for endpoints someone proposed
        create_endpoint(ctx, make_spec(name="iris"), actor=ALICE)
    server_port, gateway_port, grpc_port = free_port_pair(), free_port(), free_port()
    echo = StandIn(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}')

    def route(name: str, port: int, **extra: Any) -> dict[str, Any]:
        return {"namespace": "ml", "ready": True, "upstream": f"127.0.0.1:{port}", "revision": f"{name}-r1", **extra}

    write_routes(home.routes_file, {"iris": route("iris", server_port, auth=True), "open": route("open", server_port),
                                    "echo": route("echo", echo.port, auth=True, keys_of="iris")})
    server = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
              "--storage-uri", str(iris_model), "--port", str(server_port), "--grpc-port", str(server_port + 1),
              "--model-root", str(iris_model.parent)]
    gateway = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home.root), "--port", str(gateway_port),
               "--grpc-port", str(grpc_port)]
    log = root / "gateway.log"
    with running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready",
                 log_path=root / "server.log"), \
            running(gateway, ready_url=f"http://127.0.0.1:{gateway_port}/healthz", log_path=log) as process:
        yield Stack(home, gateway_port, grpc_port, log, echo, process.pid)
        assert process.poll() is None, "the gateway ran throughout: keys came and went without a restart"
    echo.close()


def refused(answer: tuple[int, dict[str, str], Any]) -> dict[str, Any]:
    status, headers, body = answer
    assert status == 401, (status, body)
    assert headers["www-authenticate"].startswith("Bearer")
    assert headers["content-type"] == "application/json"
    assert body["reason"] == "Unauthenticated" and "neuroscale endpoint key create iris" in body["fix"]
    return dict(body)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", PREDICT), ("POST", "/v2/models/iris/infer"), ("GET", "/v2/models/iris"),
    ("GET", "/v2/models/iris/ready"), ("GET", "/v1/models/iris"),
])
def test_without_a_valid_key_every_model_path_is_401_and_says_nothing_about_keys(stack: Stack, method: str,
                                                                                  path: str) -> None:
    _, real = stack.key()  # keys exist: a refusal is not for lack of keys
    missing = refused(ask(stack.gateway, method, path))
    for wrong in (FORGED, real + "x", real[:-1], f"{real} {real}"):
        assert refused(ask(stack.gateway, method, path, key=wrong)) == missing  # the same words whatever was sent
    for header in (f"Basic {real}", real, "Bearer", f"Token {real}"):
        assert refused(ask(stack.gateway, method, path, headers=[("Authorization", header)])) == missing
    doubled = [("Authorization", f"Bearer {real}"), ("Authorization", f"Bearer {FORGED}")]
    refused(ask(stack.gateway, method, path, headers=doubled))  # which of two would be meant? neither
    assert real not in json.dumps(missing) and "nsk_" not in json.dumps(missing)


def test_a_key_admits_by_path_and_host_until_it_is_revoked(stack: Stack) -> None:
    key_id, key = stack.key("billing job")
    assert ask(stack.gateway, "POST", PREDICT, key=key)[::2] == (200, {"predictions": [1, 1]})
    status, _, body = ask(stack.gateway, "POST", "/v2/models/iris/infer", V2_INFER, key=key)
    assert status == 200 and body["outputs"][0]["data"] == [1, 1]
    scheme_case = [("Authorization", f"bEaReR   {key}")]  # the scheme is case-insensitive (RFC 9110 11.1)
    assert ask(stack.gateway, "GET", "/v2/models/iris/ready", headers=scheme_case)[0] == 200

    host = f"iris.ml.localhost:{stack.gateway}"
    refused(ask(stack.gateway, "POST", PREDICT, host=host))
    refused(ask(stack.gateway, "GET", "/v2/health/ready", host=host))  # under the model's Host, every path is its
    assert ask(stack.gateway, "POST", PREDICT, host=host, key=key)[::2] == (200, {"predictions": [1, 1]})

    _, other = stack.key()
    stack.revoke(key_id)
    wait_for(lambda: ask(stack.gateway, "POST", PREDICT, key=key)[0] == 401, what="the revoked key is refused")
    refused(ask(stack.gateway, "POST", PREDICT, host=host, key=key))
    assert ask(stack.gateway, "POST", PREDICT, key=other)[0] == 200, "revoking one key leaves the others"


def test_routes_without_auth_and_server_paths_are_untouched(stack: Stack) -> None:
    host = f"open.ml.localhost:{stack.gateway}"  # the same model server, behind a route that asks for nothing
    assert ask(stack.gateway, "POST", PREDICT, host=host)[::2] == (200, {"predictions": [1, 1]})
    assert ask(stack.gateway, "POST", PREDICT, host=host, key=FORGED)[0] == 200, "no key is checked here"
    for path in ("/v2/health/live", "/v2/health/ready", "/v2", "/metrics"):
        assert ask(stack.gateway, "GET", path)[0] == 200, path


def test_the_key_is_not_forwarded_to_the_model_server(stack: Stack) -> None:
    _, key = stack.key()
    sent = [("X-Request-Id", "trace-7"), ("Authorization", f"Bearer {key}")]
    status, _, _ = ask(stack.gateway, "POST", "/v1/models/echo:predict", headers=sent)
    assert status == 200, "a route with keys_of accepts that endpoint's keys (a preview's route)"
    forwarded = stack.echo.received[-1]
    assert b"x-request-id: trace-7" in forwarded.lower(), "other headers still go through"
    assert b"authorization" not in forwarded.lower() and key.encode() not in forwarded
    refused_echo = ask(stack.gateway, "POST", "/v1/models/echo:predict")
    assert refused_echo[0] == 401 and refused_echo[2]["endpoint"] == "echo"


def test_grpc_calls_need_the_key_too(stack: Stack) -> None:
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    _, key = stack.key()
    client = triton.InferenceServerClient(f"127.0.0.1:{stack.grpc}")
    tensor = triton.InferInput("input-0", [2, 4], "FP64")
    tensor.set_data_from_numpy(np.asarray(IRIS_ROWS, dtype=np.float64))
    try:
        assert client.is_server_live(), "server-level calls need no key"
        for headers in (None, {"authorization": f"Bearer {FORGED}"}, {"authorization": key}):
            with pytest.raises(InferenceServerException) as caught:
                client.infer("iris", [tensor], headers=headers)
            assert caught.value.status() == "StatusCode.UNAUTHENTICATED"
            assert "requires a valid API key" in caught.value.message()
            with pytest.raises(InferenceServerException):
                client.is_model_ready("iris", headers=headers)
        answer = client.infer("iris", [tensor], headers={"authorization": f"Bearer {key}"})
        assert answer.as_numpy("output-0").tolist() == [1, 1]
        assert client.is_model_ready("iris", headers={"authorization": f"Bearer {key}"})
    finally:
        client.close()


def test_keys_never_reach_the_gateway_log(stack: Stack) -> None:
    key_id, key = stack.key()
    for sent in (key, FORGED):
        for path in (PREDICT, "/v2/models/iris/infer", "/v1/models/ghost:predict", "/v1/models/echo:predict"):
            ask(stack.gateway, "POST", path, key=sent)
    stack.revoke(key_id)
    wait_for(lambda: ask(stack.gateway, "POST", PREDICT, key=key)[0] == 401, what="the revoked key is refused")
    log = stack.log.read_text()
    assert "gateway listening" in log, "this is the gateway's log"
    assert key not in log and FORGED not in log and "nsk_" not in log
