"""The data plane and the ASGI app in-process: every bad input maps to a 4xx JSON answer, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from neuroscale.errors import InvalidInput
from neuroscale.serving.app import ServingApp, create_app
from neuroscale.serving.dataplane import DataPlane
from neuroscale.serving.formats import tabular
from neuroscale.serving.loaders import load
from neuroscale.serving.settings import ServingSettings, parse_args
from neuroscale.serving.tensors import InferRequest, Tensor
from neuroscale.httplimits import HttpLimits
from tests.conftest import IRIS_ROWS

V2_ROWS = {"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": [x for row in IRIS_ROWS for x in row]}


@pytest.fixture(scope="module")
def app(iris_model: Path) -> ServingApp:
    settings = ServingSettings(model_name="iris", model_format="sklearn", storage_uri=str(iris_model), port=0,
                               limits=HttpLimits(max_body_bytes=2048), revision="iris-predictor-00001",
                               model_roots=(iris_model.parent,))
    return create_app(settings)


def call(app: ServingApp, method: str, path: str, body: Any = None, *, chunks: list[bytes] | None = None,
         ) -> tuple[int, Any]:
    """One request through httpx's ASGI transport; JSON bodies are decoded, others returned as text."""

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks or []:
            yield chunk

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            content = stream() if chunks is not None else (body if isinstance(body, bytes) else None)
            json_body = None if isinstance(body, bytes) or body is None else body
            return await client.request(method, path, content=content, json=json_body)

    response = asyncio.run(go())
    if response.headers["content-type"] == "application/json":
        return response.status_code, response.json()
    return response.status_code, response.text


def test_settings_parse_the_engine_command_line() -> None:
    settings = parse_args(["--model-name", "m", "--model-format", "xgboost", "--storage-uri", "s3://b/k",
                           "--port", "9000", "--revision", "m-00002", "--home", "/h", "--max-body-bytes", "10"])
    assert (settings.model_name, settings.model_format, settings.port, settings.revision) == (
        "m", "xgboost", 9000, "m-00002")
    assert settings.max_body_bytes == 10 and settings.host == "127.0.0.1"


def test_v1_and_v2_predict_iris(app: ServingApp) -> None:
    assert call(app, "POST", "/v1/models/iris:predict", {"instances": IRIS_ROWS}) == (200, {"predictions": [1, 1]})
    status, doc = call(app, "POST", "/v2/models/iris/infer", {"id": "q1", "inputs": [V2_ROWS]})
    assert status == 200
    assert doc == {"model_name": "iris", "model_version": "iris-predictor-00001", "id": "q1",
                   "outputs": [{"name": "output-0", "shape": [2], "datatype": "INT64", "data": [1, 1]}]}
    versioned = call(app, "POST", "/v2/models/iris/versions/iris-predictor-00001/infer", {"inputs": [V2_ROWS]})
    assert versioned[1]["outputs"][0]["data"] == [1, 1]


def test_chunked_body_is_read_whole(app: ServingApp) -> None:
    body = orjson.dumps({"instances": IRIS_ROWS})
    assert call(app, "POST", "/v1/models/iris:predict", chunks=[body[:10], body[10:]]) == (
        200, {"predictions": [1, 1]})


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v1/models", {"models": ["iris"]}),
        ("GET", "/v1/models/iris", {"name": "iris", "ready": True}),
        ("GET", "/v2/health/live", {"live": True}),
        ("GET", "/v2/health/ready", {"ready": True}),
        ("GET", "/v2/models/iris/ready", {"name": "iris", "ready": True}),
        ("GET", "/v2/models/iris", {"name": "iris", "versions": ["iris-predictor-00001"], "platform": "sklearn",
                                    "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
                                    "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]}),
    ],
)
def test_metadata_and_health(app: ServingApp, method: str, path: str, expected: Any) -> None:
    assert call(app, method, path) == (200, expected)


def test_server_metadata(app: ServingApp) -> None:
    status, doc = call(app, "GET", "/v2")
    assert status == 200 and doc["name"] == "neuroscale" and doc["version"] and doc["extensions"] == []


def _v2(**tensor: Any) -> dict[str, Any]:
    return {"inputs": [V2_ROWS | tensor]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason", "message"),
    [
        ("POST", "/v1/models/iris:predict", b'{"instances": [[1,2', 422, "InvalidInput", "malformed JSON"),
        ("POST", "/v1/models/iris:predict", {"rows": IRIS_ROWS}, 422, "InvalidInput", 'missing "instances"'),
        ("POST", "/v1/models/iris:predict", {"instances": [[6.8, 2.8, 4.8]]}, 422, "InvalidInput",
         "expects 4 features per row, got 3"),
        ("POST", "/v1/models/iris:predict", {"instances": [[1, 2, 3, 4], [1, 2]]}, 422, "InvalidInput", "ragged"),
        ("POST", "/v1/models/iris:predict", {"instances": [["a", "b", "c", "d"]]}, 422, "InvalidInput",
         "holds strings"),
        ("POST", "/v1/models/iris:predict", {"instances": [1, 2, 3, 4]}, 422, "InvalidInput", "2-D"),
        ("POST", "/v1/models/iris:predict", {"instances": []}, 422, "InvalidInput", "non-empty"),
        ("POST", "/v2/models/iris/infer", b"nope", 422, "InvalidInput", "malformed JSON"),
        ("POST", "/v2/models/iris/infer", {"instances": IRIS_ROWS}, 422, "InvalidInput", '"inputs"'),
        ("POST", "/v2/models/iris/infer", _v2(data=["6.8"] * 8), 422, "InvalidInput", "holds strings"),
        ("POST", "/v2/models/iris/infer", _v2(shape=[2, 3]), 422, "InvalidInput", "needs 6 values but data has 8"),
        ("POST", "/v2/models/iris/infer", _v2(shape=[4, 2]), 422, "InvalidInput", "expects 4 features per row, got 2"),
        ("POST", "/v2/models/iris/infer", _v2(datatype="BYTES", data=["x"] * 8), 422, "InvalidInput",
         "takes numbers"),
        ("POST", "/v2/models/iris/infer", {"inputs": [V2_ROWS, V2_ROWS]}, 422, "InvalidInput", "exactly one input"),
        ("POST", "/v1/models/iris:predict", {"instances": [[1.0, 2.0, 3.0, 4.0]] * 200}, 413, "PayloadTooLarge",
         "over the limit of 2048 bytes"),
        ("POST", "/v1/models/rose:predict", {"instances": IRIS_ROWS}, 404, "NotFound", "model 'rose' is not served"),
        ("GET", "/v2/models/rose/ready", None, 404, "NotFound", "model 'rose' is not served"),
        ("GET", "/nowhere", None, 404, "NotFound", "no route /nowhere"),
        ("GET", "/v1/models/iris:predict", None, 405, "MethodNotAllowed", "GET is not allowed"),
        ("DELETE", "/v2/models/iris", None, 405, "MethodNotAllowed", "DELETE is not allowed"),
    ],
)
def test_bad_requests_are_4xx_json(app: ServingApp, method: str, path: str, body: Any, status: int, reason: str,
                                   message: str) -> None:
    got_status, doc = call(app, method, path, body)
    assert (got_status, doc["reason"]) == (status, reason)
    assert message in doc["error"] and doc["fix"]


def test_body_limit_holds_without_content_length(app: ServingApp) -> None:
    status, doc = call(app, "POST", "/v1/models/iris:predict", chunks=[b" " * 1500, b" " * 1500])
    assert (status, doc["reason"]) == (413, "PayloadTooLarge")


def test_metrics_count_requests_per_protocol_and_status(app: ServingApp) -> None:
    def count(protocol: str, status: str) -> float:
        value = app.metrics.registry.get_sample_value(
            "neuroscale_model_requests_total", {"model": "iris", "protocol": protocol, "status": status})
        return value or 0.0

    before = (count("v1", "200"), count("v2", "422"))
    call(app, "POST", "/v1/models/iris:predict", {"instances": IRIS_ROWS})
    call(app, "POST", "/v2/models/iris/infer", {"inputs": []})
    assert (count("v1", "200"), count("v2", "422")) == (before[0] + 1, before[1] + 1)
    status, text = call(app, "GET", "/metrics")
    assert status == 200
    assert 'neuroscale_model_request_duration_seconds_count{model="iris",protocol="v1",status="200"}' in text


def test_data_plane_maps_model_errors_to_invalid_input(iris_model: Path) -> None:
    plane = DataPlane(model=tabular(load(iris_model, model_format="sklearn")), name="iris")
    rows = np.array([[np.nan, 1.0, 1.0, 1.0]])
    with pytest.raises(InvalidInput, match="the model rejected the input"):
        plane.infer_now(InferRequest(inputs=(Tensor("x", "FP64", rows),)))
    answer = plane.infer_now(InferRequest(inputs=(Tensor("x", "FP64", np.array(IRIS_ROWS)),), id="z"))
    assert answer.id == "z" and answer.model_version is None and answer.outputs[0].data.tolist() == [1, 1]
