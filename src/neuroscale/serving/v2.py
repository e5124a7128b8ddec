"""Open Inference Protocol V2 (REST) adapter: JSON <-> the data plane's request/response types."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.serving.codec import dumps, load_object
from neuroscale.serving.dataplane import ModelMetadata
from neuroscale.serving.tensors import InferRequest, InferResponse, Tensor, to_array

_FIX = 'send {"inputs": [{"name": "input-0", "shape": [rows, features], "datatype": "FP64", "data": [...]}]}'


def decode_infer(body: bytes) -> InferRequest:
    doc = load_object(body)
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput('missing or empty "inputs"', where="request body", fix=_FIX)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput('"id" must be a string', where="id", fix="send a string id or none")
    parameters = doc.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput('"parameters" must be an object', where="parameters", fix="send an object or none")
    tensors = tuple(_decode_input(item, index) for index, item in enumerate(inputs))
    return InferRequest(inputs=tensors, id=request_id, parameters=parameters)


def _decode_input(item: Any, index: int) -> Tensor:
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise InvalidInput("each input must be an object", where=where, fix=_FIX)
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str) or not name:
        raise InvalidInput('missing "name"', where=where, fix=_FIX)
    where = f"inputs[{index}] ({name})"
    if not isinstance(shape, list) or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise InvalidInput('"shape" must be a list of non-negative integers', where=where, fix=_FIX)
    if not isinstance(datatype, str):
        raise InvalidInput('missing "datatype"', where=where, fix=_FIX)
    if "data" not in item:
        raise InvalidInput('missing "data"', where=where, fix=_FIX)
    return Tensor(name, datatype, to_array(item["data"], datatype=datatype, shape=shape, where=where))


def encode_infer(response: InferResponse) -> bytes:
    doc: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version:
        doc["model_version"] = response.model_version
    if response.id is not None:
        doc["id"] = response.id
    doc["outputs"] = [
        {"name": t.name, "shape": t.shape, "datatype": t.datatype, "data": t.data.ravel()}
        for t in response.outputs
    ]
    return dumps(doc)


def encode_metadata(metadata: ModelMetadata) -> bytes:
    return dumps(asdict(metadata))


def encode_server_metadata(*, version: str) -> bytes:
    return dumps({"name": "neuroscale", "version": version, "extensions": []})


def encode_ready(name: str) -> bytes:
    return dumps({"name": name, "ready": True})
