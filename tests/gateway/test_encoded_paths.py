"""Percent-encoded model names, read alike by KServe's model server, our model server and the gateway.

KServe's server (FastAPI on uvicorn, run here from `.venv-kserve` as the reference) decodes the path
before it matches a route, so `/v2/models/iris%2Dx/infer` reaches `iris-x`; the gateway used to
answer 404 for it while the model server behind it decoded. Where KServe decodes too much - a `%2F`
becomes a separator, so `iris-x%2Finfer` is read as `iris-x/infer` - ours refuse (400) instead, in the
gateway and in the model server alike. The clients are httpx and curl, which send a path as written
(requests decodes escapes of unreserved characters such as `%2D` itself, so through it these always worked).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import httpx

from tests.conftest import IRIS_ROWS, free_port, running
from tests.gateway.test_gateway_e2e import write_routes
from tests.gateway.test_http_clients import curl
from tests.serving.test_serving_kserve_client import KSERVE_PYTHON

pytestmark = pytest.mark.e2e

NAME = "iris-x"
KSERVE_SERVER = Path(__file__).with_name("kserve_server_run.py")
V1_BODY = {"instances": IRIS_ROWS}
V2_BODY = {"inputs": [{"name": "input-0", "shape": [len(IRIS_ROWS), 4], "datatype": "FP64",
                       "data": [x for row in IRIS_ROWS for x in row]}]}
#: Encoded spellings of paths KServe serves: every server must answer them as the plain path.
SERVED = [
    ("POST", "/v1/models/iris%2Dx:predict", V1_BODY),
    ("POST", "/v1/models/%69ris-x%3Apredict", V1_BODY),  # an encoded ':' still ends the name, as in KServe
    ("POST", "/v2/models/iris%2dx/infer", V2_BODY),
    ("POST", "/v2/models/iris-x/%69nfer", V2_BODY),
    ("GET", "/v2/models/iris%2Dx/ready", None),
    ("GET", "/v1/models/iris%2Dx", None),
]
#: Encodings that could select another model or path: ours refuse them (KServe's answer is shown in the test).
HOSTILE = [
    "/v2/models/iris-x%2Finfer",  # KServe: the infer route of iris-x
    "/v2/models/iris-x%2F..%2Fother/infer",
    "/v2/models/%2E%2E/models/iris-x/infer",
    "/v2/models/iris-x/%2e%2e/iris-x/infer",
    "/v1/models/iris%FF-x:predict",  # not UTF-8
]


@dataclass(frozen=True)
class Servers:
    kserve: str
    model_server: str
    gateway: str


@pytest.fixture(scope="module")
def servers(iris_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    home = tmp_path_factory.mktemp("encoded-paths") / "home"
    kserve_port, server_port, gateway_port = free_port(), free_port(), free_port()
    write_routes(home / "run" / "routes.json", {NAME: {"namespace": "ml", "ready": True, "revision": "r1",
                                                       "upstream": f"127.0.0.1:{server_port}"}})
    server = [sys.executable, "-m", "neuroscale.serving", "--model-name", NAME, "--model-format", "sklearn",
              "--storage-uri", str(iris_model), "--port", str(server_port), "--model-root", str(iris_model.parent)]
    gateway = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(gateway_port)]
    kserve = [str(KSERVE_PYTHON), str(KSERVE_SERVER), str(kserve_port), NAME]
    with running(kserve, ready_url=f"http://127.0.0.1:{kserve_port}/v2/health/ready"), \
            running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready"), \
            running(gateway, ready_url=f"http://127.0.0.1:{gateway_port}/healthz"):
        yield Servers(*(f"http://127.0.0.1:{port}" for port in (kserve_port, server_port, gateway_port)))


def _send(base: str, method: str, path: str, body: object) -> httpx.Response:
    return httpx.request(method, base + path, json=body, timeout=10)


@pytest.mark.parametrize(("method", "path", "body"), SERVED, ids=[path for _, path, _ in SERVED])
def test_encoded_names_are_served_as_kserve_serves_them(servers: Servers, method: str, path: str,
                                                        body: object) -> None:
    plain = path.replace("%2D", "-").replace("%2d", "-").replace("%69", "i").replace("%3A", ":")
    assert _send(servers.kserve, method, path, body).status_code == 200  # the reference
    for base in (servers.model_server, servers.gateway):
        encoded, expected = _send(base, method, path, body), _send(base, method, plain, body)
        assert (encoded.status_code, encoded.json()) == (200, expected.json()), (base, encoded.text)


@pytest.mark.parametrize("path", HOSTILE)
def test_encodings_that_could_reach_another_model_are_refused_alike(servers: Servers, path: str) -> None:
    answers = [curl("--path-as-is", "-H", "content-type: application/json", "--data-binary", json.dumps(V2_BODY),
                    base + path) for base in (servers.model_server, servers.gateway)]
    assert answers[0] == answers[1], answers  # the gateway and the model server agree, word for word
    status, error = answers[0]
    assert status == 400 and error["reason"] == "BadRequest" and error["where"] == path, error
    assert "model name" in error["fix"]


def test_kserve_itself_lets_an_encoded_slash_split_the_name(servers: Servers) -> None:
    """Why ours refuse `%2F`: KServe's server routes `iris-x%2Finfer` to iris-x's infer route."""
    assert _send(servers.kserve, "POST", "/v2/models/iris-x%2Finfer", V2_BODY).status_code == 200
