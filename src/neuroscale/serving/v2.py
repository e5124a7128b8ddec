"""Open Inference Protocol V2 (REST) adapter: JSON <-> the data plane's request/response types.

Inputs may also use the binary tensor data extension (KServe/Triton): the body is the JSON header
of `Inference-Header-Content-Length` bytes followed by each binary input's raw bytes, in order,
sized by the input's `parameters.binary_data_size`. Answers use it too for the outputs that ask
(`outputs[i].parameters.binary_data`, or `parameters.binary_data_output` for every output):
their JSON carries `binary_data_size` instead of `data` and their bytes follow the JSON.
`outputs` selects which outputs to answer; `parameters` are kept for the model.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.serving.codec import dumps, load_object
from neuroscale.serving.model import ModelMetadata
from neuroscale.serving.tensors import (
    InferRequest,
    InferResponse,
    RequestedOutput,
    Tensor,
    from_binary,
    to_array,
    to_binary,
)

_FIX = 'send {"inputs": [{"name": "input-0", "shape": [rows, features], "datatype": "FP64", "data": [...]}]}'
HEADER_LENGTH = b"inference-header-content-length"


def json_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The JSON header length of a binary-extension request, or None for a plain JSON body."""
    for key, value in headers:
        if key == HEADER_LENGTH:
            try:
                return int(value)
            except ValueError:
                raise InvalidInput(
                    "Inference-Header-Content-Length is not an integer",
                    where="headers",
                    fix="send the byte length of the JSON part",
                ) from None
    return None


def decode_infer(body: bytes, *, header_length: int | None = None) -> InferRequest:
    """Decode a V2 infer body; `header_length` splits JSON from appended binary tensor data."""
    if header_length is not None and not 0 < header_length <= len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length {header_length} does not fit a body of {len(body)} bytes",
            where="headers",
            fix="send the byte length of the JSON part",
        )
    split = len(body) if header_length is None else header_length
    doc = load_object(body[:split])
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput('missing or empty "inputs"', where="request body", fix=_FIX)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput('"id" must be a string', where="id", fix="send a string id or none")
    parameters = doc.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput('"parameters" must be an object', where="parameters", fix="send an object or none")
    binary = _Binary(memoryview(body)[split:])
    tensors = tuple(_decode_input(item, index, binary) for index, item in enumerate(inputs))
    if binary.offset != len(binary.data):
        raise InvalidInput(
            f"{len(binary.data) - binary.offset} bytes of binary data belong to no input",
            where="request body",
            fix="make the binary_data_size parameters add up to the appended bytes",
        )
    return InferRequest(inputs=tensors, id=request_id, parameters=parameters,
                        outputs=_requested_outputs(doc.get("outputs")))


def _requested_outputs(outputs: Any) -> tuple[RequestedOutput, ...]:
    if outputs is None:
        return ()
    fix = 'send "outputs": [{"name": "output-0", "parameters": {"binary_data": true}}] or leave it out'
    if not isinstance(outputs, list):
        raise InvalidInput('"outputs" must be a list', where="outputs", fix=fix)
    wanted = []
    for index, item in enumerate(outputs):
        where = f"outputs[{index}]"
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidInput('each requested output needs a "name"', where=where, fix=fix)
        parameters = item.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidInput('"parameters" must be an object', where=where, fix=fix)
        wanted.append(RequestedOutput(name, parameters))
    return tuple(wanted)


class _Binary:
    """The appended binary tensor data, consumed input by input."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: Any, *, where: str) -> bytes:
        if type(size) is not int or size < 0 or self.offset + size > len(self.data):
            raise InvalidInput(
                f"binary_data_size {size!r} does not fit the {len(self.data) - self.offset} bytes left",
                where=where,
                fix="set binary_data_size to the byte size of this input's appended data",
            )
        chunk = bytes(self.data[self.offset:self.offset + size])
        self.offset += size
        return chunk


def _decode_input(item: Any, index: int, binary: _Binary) -> Tensor:
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
    parameters = item.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None and "data" not in item:
        raw = binary.take(size, where=where)
        return Tensor(name, datatype, from_binary(raw, datatype=datatype, shape=shape, where=where))
    if "data" not in item or size is not None:
        raise InvalidInput('each input needs either "data" or binary_data_size (not both)', where=where, fix=_FIX)
    return Tensor(name, datatype, to_array(item["data"], datatype=datatype, shape=shape, where=where))


def encode_infer(response: InferResponse, request: InferRequest | None = None) -> tuple[bytes, int | None]:
    """The answer's body, and its JSON length when binary outputs follow the JSON (else None)."""
    doc: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version:
        doc["model_version"] = response.model_version
    if response.id is not None:
        doc["id"] = response.id
    if response.parameters:
        doc["parameters"] = response.parameters
    binary = _binary_outputs(request) if request is not None else None
    outputs, chunks = [], []
    for tensor in response.outputs:
        entry: dict[str, Any] = {"name": tensor.name, "shape": tensor.shape, "datatype": tensor.datatype}
        if binary is not None and binary(tensor.name):
            raw = to_binary(tensor.data, datatype=tensor.datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = tensor.data.ravel()
        outputs.append(entry)
    doc["outputs"] = outputs
    head = dumps(doc)
    if not chunks:
        return head, None
    return b"".join((head, *chunks)), len(head)


def _binary_outputs(request: InferRequest) -> Any:
    """Which outputs go as binary data: per output `binary_data`, else the request's `binary_data_output`."""
    default = _flag((request.parameters or {}).get("binary_data_output"), where="parameters.binary_data_output")
    chosen = {o.name: _flag((o.parameters or {}).get("binary_data"), where=f"outputs ({o.name})")
              for o in request.outputs}
    if not default and not any(chosen.values()):
        return None
    return lambda name: chosen.get(name) if chosen.get(name) is not None else default


def _flag(value: Any, *, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidInput("binary data flags must be true or false", where=where, fix="send true or false")


def encode_metadata(metadata: ModelMetadata) -> bytes:
    return dumps(asdict(metadata))


def encode_server_metadata(*, version: str) -> bytes:
    return dumps({"name": "neuroscale", "version": version, "extensions": []})


def encode_ready(name: str, *, ready: bool = True) -> bytes:
    return dumps({"name": name, "ready": ready})
