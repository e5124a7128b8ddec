"""What `neuroscale smoke` sends to an endpoint, for any model: a stored sample, or one built from V2 metadata.

A sample request lives beside the manifest (`apps/<name>/sample-request.json`,
written by `endpoint create|update --sample-request FILE`) and is a KServe V1
body (`{"instances": [...]}`) or an Open Inference Protocol V2 body
(`{"inputs": [{"name", "shape", "datatype", "data"}]}`); it is read here, in
one place, with a clear error for anything else. Without one, the request is
built from the model's V2 metadata (`GET /v2/models/<name>`): one row of zeros
per input of the published shape and datatype. A model that publishes no
usable shape and has no sample cannot be smoke-tested, and the smoke says so
instead of guessing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from neuroscale.errors import InvalidInput

SAMPLE_REQUEST_FILE = "sample-request.json"
MAX_SAMPLE_BYTES = 1024 * 1024
_NUMERIC = frozenset({"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
                      "FP32", "FP64"})
_DATATYPES = _NUMERIC | {"BYTES"}
_FIX = ('give {"instances": [[...], ...]} (KServe V1) or {"inputs": [{"name": "input-0", "shape": [1, 4], '
        '"datatype": "FP64", "data": [...]}]} (Open Inference Protocol V2)')


def sample_request_path(endpoint: str) -> str:
    """Where an endpoint's sample request lives on main, beside its manifest."""
    return f"apps/{endpoint}/{SAMPLE_REQUEST_FILE}"


@dataclass(frozen=True)
class SampleRequest:
    protocol: Literal["v1", "v2"]
    body: Mapping[str, Any]
    source: str  # where it came from, for the smoke's report

    def path(self, model: str) -> str:
        return f"/v1/models/{model}:predict" if self.protocol == "v1" else f"/v2/models/{model}/infer"

    def answered(self, response: Any) -> str | None:
        """The predictions or outputs of a well-formed answer, as short text; None when it is not one."""
        key = "predictions" if self.protocol == "v1" else "outputs"
        if not isinstance(response, dict) or key not in response:
            return None
        return json.dumps(response[key])[:80]


def parse_sample_request(data: bytes, *, where: str) -> SampleRequest:
    """A stored sample request, validated; `InvalidInput` naming what is wrong otherwise."""
    if len(data) > MAX_SAMPLE_BYTES:
        raise InvalidInput(f"the sample request is {len(data)} bytes, more than {MAX_SAMPLE_BYTES}", where=where,
                           fix="keep one small request (a few rows)")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the sample request is not JSON: {exc}", where=where, fix=_FIX) from None
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        raise InvalidInput('the sample request must be an object with exactly one of "instances" and "inputs"',
                           where=where, fix=_FIX)
    if "instances" in body:
        if not isinstance(body["instances"], list) or not body["instances"]:
            raise InvalidInput('"instances" must be a non-empty list', where=f"{where}: instances", fix=_FIX)
        return SampleRequest("v1", body, where)
    inputs = body["inputs"]
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput('"inputs" must be a non-empty list', where=f"{where}: inputs", fix=_FIX)
    for index, tensor in enumerate(inputs):
        _check_tensor(tensor, where=f"{where}: inputs[{index}]")
    return SampleRequest("v2", body, where)


def _check_tensor(tensor: Any, *, where: str) -> None:
    if not isinstance(tensor, dict):
        raise InvalidInput("each input must be an object", where=where, fix=_FIX)
    shape, datatype, data = tensor.get("shape"), tensor.get("datatype"), tensor.get("data")
    if not isinstance(tensor.get("name"), str) or not tensor["name"]:
        raise InvalidInput("the input has no name", where=where, fix=_FIX)
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise InvalidInput(f"shape {shape!r} is not a list of non-negative integers", where=f"{where}.shape", fix=_FIX)
    if datatype not in _DATATYPES:
        raise InvalidInput(f"datatype {datatype!r} is not an Open Inference Protocol datatype",
                           where=f"{where}.datatype", fix=f"use one of {', '.join(sorted(_DATATYPES))}")
    if not isinstance(data, list) or len(_flatten(data)) != math.prod(shape):
        raise InvalidInput(f"data does not hold {math.prod(shape)} values for shape {shape}", where=f"{where}.data",
                           fix="give exactly as many values as the shape holds (flat or nested)")


def _flatten(data: list[Any]) -> list[Any]:
    return [leaf for item in data for leaf in (_flatten(item) if isinstance(item, list) else [item])]


def request_from_metadata(metadata: Any, *, model: str) -> SampleRequest | None:
    """One row of zeros per input the V2 metadata describes; None when it does not say enough to build one."""
    inputs = metadata.get("inputs") if isinstance(metadata, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return None
    tensors = []
    for tensor in inputs:
        shape = tensor.get("shape") if isinstance(tensor, dict) else None
        if not isinstance(shape, list) or not shape or tensor.get("datatype") not in _NUMERIC:
            return None
        dims = [1 if index == 0 and dim == -1 else dim for index, dim in enumerate(shape)]  # one row
        if not all(isinstance(d, int) and d > 0 for d in dims):
            return None  # a feature dimension the model does not publish
        zero: Any = False if tensor["datatype"] == "BOOL" else 0
        tensors.append({"name": str(tensor.get("name") or "input-0"), "shape": dims, "datatype": tensor["datatype"],
                        "data": [zero] * math.prod(dims)})
    return SampleRequest("v2", {"inputs": tensors}, f"V2 metadata of {model}")
