"""Requests shaped by clients we did not write, against the real gateway and the real model server behind it.

Each case was once answered wrongly: curl's `--http2` (an `Upgrade: h2c` the gateway refused and
the model server answered with the body dropped), tritonclient's and aiohttp's compressed bodies
(read as malformed JSON), KServe's client asking the gateway `GET /`, a decompression bomb,
Transfer-Encoding split over two fields, and integers or floats past their declared datatype
(silently wrapped). The other side is the real
client wherever one exists (curl, tritonclient); raw bytes only where no client sends the shape.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import zlib

import numpy as np
import pytest

from tests.conftest import IRIS_ROWS
from tests.gateway.conftest import Live
from tests.rawhttp import exchange, request
from tests.serving.test_serving_kserve_client import KSERVE_PYTHON, assert_kserve_client_is_served

pytestmark = pytest.mark.e2e

PREDICT = json.dumps({"instances": IRIS_ROWS}).encode()
V1 = "/v1/models/iris:predict"
H2C = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA"}


def curl(*args: str) -> tuple[int, dict[str, object]]:
    """Run the real curl; its answer's status and JSON body."""
    binary = shutil.which("curl")
    assert binary, "curl is part of the machine image"
    done = subprocess.run([binary, "-sS", "--max-time", "10", "-w", "\n%{http_code}", *args],
                          capture_output=True, check=True, text=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


# -- Upgrade: h2c (curl --http2 on an http:// URL) ---------------------------------------------------

def test_curl_http2_posts_are_answered_in_http11_by_the_gateway(servers: Live) -> None:
    port = servers.ports["gateway"]
    assert curl("--http2", "--data-binary", PREDICT.decode(), f"http://127.0.0.1:{port}{V1}") == (
        200, {"predictions": [1, 1]})
    status, metadata = curl("--http2", f"http://127.0.0.1:{port}/v2/models/iris")
    assert status == 200 and metadata["name"] == "iris"


def test_the_model_server_refuses_an_upgrade_with_a_body_instead_of_dropping_the_body(servers: Live) -> None:
    status, body = curl("--http2", "--data-binary", PREDICT.decode(),
                        f"http://127.0.0.1:{servers.ports['model server']}{V1}")
    assert status == 400 and "upgrade" in str(body["error"]) and "--http1.1" in str(body["fix"])


def test_an_ignored_upgrade_keeps_the_chunked_body_and_the_requests_after_it(servers: Live) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(PREDICT), PREDICT)
    first = request("POST", V1, headers={**H2C, "Transfer-Encoding": "chunked"}) + chunked
    result = exchange(servers.ports["gateway"], first[:60], first[60:] + request("GET", "/v2/health/ready",
                                                                                  close=True), pause_s=0.2)
    assert [(r.status, r.json()) for r in result.responses] == [(200, {"predictions": [1, 1]}),
                                                                (200, {"ready": True})]


def test_connect_is_refused_once(servers: Live) -> None:
    result = exchange(servers.ports["gateway"], b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")
    assert [r.status for r in result.responses] == [400] and result.closed
    assert result.responses[0].json()["error"] == "CONNECT is not supported"


def test_transfer_encoding_split_over_two_fields_is_one_list(servers: Live) -> None:
    head = request("POST", V1, headers={"Transfer-Encoding": "gzip"})[:-2] + b"Transfer-Encoding: chunked\r\n\r\n"
    result = exchange(servers.ports["gateway"], head + b"0\r\n\r\n")
    assert [r.status for r in result.responses] == [400]
    assert "'gzip, chunked' is not supported" in result.responses[0].json()["error"]


# -- KServe's own client --------------------------------------------------------------------------------

@pytest.mark.skipif(not KSERVE_PYTHON.exists(), reason=f"kserve venv absent at {KSERVE_PYTHON}: `make kserve-venv`")
def test_kserve_rest_client_is_served_through_the_gateway(servers: Live) -> None:
    """Its V1 liveness call is `GET /`, which KServe's server answers: the gateway answered 404."""
    assert_kserve_client_is_served(f"http://127.0.0.1:{servers.ports['gateway']}")


# -- Content-Encoding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_tritonclient_compressed_requests_are_decoded(port: int, algorithm: str) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    tensor = triton.InferInput("input-0", [2, 4], "FP64")
    tensor.set_data_from_numpy(np.asarray(IRIS_ROWS))
    answer = client.infer("iris", [tensor], request_compression_algorithm=algorithm)
    assert answer.as_numpy("output-0").tolist() == [1, 1]


@pytest.mark.parametrize(("coding", "body", "status", "needle"), [
    ("gzip", gzip.compress(b" " * 1_000_000), 413, "decodes to more than the limit of 4096 bytes"),
    ("gzip", gzip.compress(PREDICT)[:-5], 422, "gzip request body is truncated"),
    ("deflate", b"not deflate", 422, "deflate request body does not decode"),
    ("br", PREDICT, 415, "coding 'br' is not supported"),
], ids=["bomb", "truncated", "not-deflate", "br"])
def test_bad_or_oversized_compressed_bodies_are_refused_by_name(port: int, coding: str, body: bytes, status: int,
                                                                 needle: str) -> None:
    """Under the body limit as sent; the bomb's megabyte never gets inflated past the limit."""
    assert len(body) < 4096
    answered, error = _post_coded(port, coding, body)
    assert answered == status and needle in str(error["error"])


def _post_coded(port: int, coding: str, body: bytes) -> tuple[int, dict[str, object]]:
    result = exchange(port, request("POST", V1, body=body, headers={"Content-Encoding": coding}, close=True))
    return result.responses[0].status, result.responses[0].json()


def test_the_gateway_forwards_the_decoded_body(servers: Live) -> None:
    coded = zlib.compress(json.dumps({"instances": [IRIS_ROWS[0]]}).encode())
    answered = _post_coded(servers.ports["gateway"], "deflate", coded)
    assert answered == (200, {"predictions": [1]})


# -- values past their datatype -------------------------------------------------------------------------

@pytest.mark.parametrize(("datatype", "data", "needle"), [
    ("UINT8", [300, 2, 4, 1], "value 300 does not fit UINT8 (0 to 255)"),
    ("INT8", [-200, 2, 4, 1], "value -200 does not fit INT8 (-128 to 127)"),
    ("UINT64", [-1, 2, 4, 1], "value -1 does not fit UINT64"),
    ("FP16", [70000, 2, 4, 1], "value 70000 does not fit FP16"),
])
def test_values_past_the_datatype_are_refused_not_wrapped(port: int, datatype: str, data: list[int],
                                                          needle: str) -> None:
    body = json.dumps({"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": datatype, "data": data}]})
    status, error = curl("--data-binary", body, f"http://127.0.0.1:{port}/v2/models/iris/infer")
    assert status == 422 and needle in str(error["error"])
