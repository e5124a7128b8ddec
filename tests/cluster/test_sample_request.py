"""Sample requests: the stored V1/V2 bodies `smoke` sends, and those it builds from V2 model metadata."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from neuroscale.cluster.sample_request import parse_sample_request, request_from_metadata
from neuroscale.errors import InvalidInput


@pytest.mark.parametrize(("body", "protocol", "path"), [
    ({"instances": [[1, 2, 3, 4]]}, "v1", "/v1/models/m:predict"),
    ({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}]}, "v2",
     "/v2/models/m/infer"),
    ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}], "id": "r1"}, "v2",
     "/v2/models/m/infer"),
])
def test_valid_samples(body: dict[str, Any], protocol: str, path: str) -> None:
    sample = parse_sample_request(json.dumps(body).encode(), where="req.json")
    assert sample.protocol == protocol and sample.path("m") == path and sample.body == body


@pytest.mark.parametrize(("data", "fragment"), [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", 'exactly one of "instances" and "inputs"'),
    (b'{"instances": [], "inputs": []}', "exactly one of"),
    (b'{"instances": []}', '"instances" must be a non-empty list'),
    (b'{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}', "has no name"),
    (b'{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}', "non-negative integers"),
    (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FLOAT", "data": [1]}]}', "not an Open Inference"),
    (b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}', "hold 4 values"),
    (b'{"instances": [[1]]}' + b" " * (1 << 20), "more than"),
])
def test_bad_samples_say_what_is_wrong(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_sample_request(data, where="req.json")
    assert fragment in caught.value.message and caught.value.where.startswith("req.json")


def test_metadata_of_our_own_server_builds_a_request_it_accepts(iris_server: tuple[int, Any]) -> None:
    """The other side is a real model server process: its V2 metadata in, its infer out."""
    port, _ = iris_server
    base = f"http://127.0.0.1:{port}"
    sample = request_from_metadata(httpx.get(f"{base}/v2/models/iris", timeout=10).json(), model="iris")
    assert sample is not None and sample.body["inputs"][0]["shape"] == [1, 4]
    answer = httpx.post(base + sample.path("iris"), json=dict(sample.body), timeout=10)
    assert answer.status_code == 200 and sample.answered(answer.json()) is not None


@pytest.mark.parametrize("metadata", [
    {}, {"inputs": []}, {"inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, -1]}]},
    {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [-1, 1]}]}, ["not", "an", "object"],
])
def test_metadata_without_a_usable_shape_builds_nothing(metadata: Any) -> None:
    assert request_from_metadata(metadata, model="m") is None
