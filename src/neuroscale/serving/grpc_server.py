"""The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), in the model server.

A thin adapter like `v1`/`v2`: protobuf messages <-> the data plane's request/response types,
on the same event loop and through the same `Plane` (so gRPC requests share the batcher with
HTTP ones). Inputs may come as typed `contents` or as `raw_input_contents` (what tritonclient
sends); outputs always go as `raw_output_contents`, as Triton answers. Errors become gRPC status
codes with the same one-line message (what, where, fix) the REST adapters give; a message over
`max_message_bytes` is refused by gRPC itself with RESOURCE_EXHAUSTED before it is decoded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from neuroscale.errors import InvalidInput, NeuroScaleError, NotFound
from neuroscale.serving.model import Plane
from neuroscale.serving.oip_proto import METHODS, SERVICE, messages
from neuroscale.serving.tensors import (
    DATATYPES,
    InferRequest,
    InferResponse,
    RequestedOutput,
    Tensor,
    cast,
    from_binary,
    to_binary,
)

#: Which `InferTensorContents` field carries each datatype (FP16 has none: send it raw).
CONTENTS_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
_STATUS = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.ABORTED,
           413: grpc.StatusCode.RESOURCE_EXHAUSTED, 422: grpc.StatusCode.INVALID_ARGUMENT,
           503: grpc.StatusCode.UNAVAILABLE}
Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def status_of(exc: NeuroScaleError) -> grpc.StatusCode:
    return _STATUS.get(exc.http_status, grpc.StatusCode.INTERNAL)


def one_line(exc: NeuroScaleError) -> str:
    return " ".join(str(exc).split())


def parameters_dict(parameters: Any) -> dict[str, Any] | None:
    """A protobuf `map<string, InferParameter>` as plain values."""
    found = {key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
             for key, value in parameters.items()}
    return found or None


def set_parameters(target: Any, values: dict[str, Any] | None) -> None:
    for key, value in (values or {}).items():
        slot = target[key]
        if isinstance(value, bool):
            slot.bool_param = value
        elif isinstance(value, int):
            slot.int64_param = value
        elif isinstance(value, float):
            slot.double_param = value
        else:
            slot.string_param = str(value)


def decode_infer(message: Any) -> InferRequest:
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidInput(f"{len(raw)} raw_input_contents for {len(message.inputs)} inputs", where="inputs",
                           fix="send one raw_input_contents entry per input, in order, or none")
    if not message.inputs:
        raise InvalidInput("no inputs", where="inputs", fix="send at least one input tensor")
    tensors = []
    for index, item in enumerate(message.inputs):
        where = f"inputs[{index}] ({item.name})"
        shape = list(item.shape)
        if any(dim < 0 for dim in shape):
            raise InvalidInput("shape has a negative dimension", where=where, fix="send the tensor's real shape")
        if item.datatype not in DATATYPES:
            raise InvalidInput(f"unsupported datatype {item.datatype!r}", where=where,
                               fix=f"use one of {', '.join(DATATYPES)}")
        if raw:
            data = from_binary(raw[index], datatype=item.datatype, shape=shape, where=where)
        else:
            data = _from_contents(item, shape=shape, where=where)
        tensors.append(Tensor(item.name, item.datatype, data))
    outputs = tuple(RequestedOutput(o.name, parameters_dict(o.parameters)) for o in message.outputs)
    return InferRequest(inputs=tuple(tensors), id=message.id or None,
                        parameters=parameters_dict(message.parameters), outputs=outputs)


def _from_contents(item: Any, *, shape: list[int], where: str) -> np.ndarray[Any, Any]:
    field = CONTENTS_FIELD.get(item.datatype)
    if field is None:
        raise InvalidInput(f"{item.datatype} has no typed contents field", where=where,
                           fix="send this tensor in raw_input_contents")
    values = getattr(item.contents, field)
    count = int(np.prod(shape)) if shape else 1
    if len(values) != count:
        raise InvalidInput(f"shape {shape} needs {count} values but contents has {len(values)}", where=where,
                           fix=f"fill contents.{field} with exactly the shape's number of values")
    if item.datatype == "BYTES":
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
    else:
        array = cast(np.asarray(values), datatype=item.datatype, where=where)
    return array.reshape(shape)


def encode_infer(response: InferResponse) -> Any:
    message = messages()["ModelInferResponse"](model_name=response.model_name,
                                                model_version=response.model_version or "", id=response.id or "")
    set_parameters(message.parameters, response.parameters)
    for tensor in response.outputs:
        message.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        message.raw_output_contents.append(to_binary(tensor.data, datatype=tensor.datatype))
    return message


class InferenceServicer:
    """The six OIP calls of one model server, each a coroutine over the `Plane`."""

    def __init__(self, plane: Plane, *, version: str) -> None:
        self.plane = plane
        self.server_version = version
        self._m = messages()

    def _check_model(self, name: str, version: str) -> None:
        if name != self.plane.name:
            raise NotFound(f"model {name!r} is not served here", where="model_name",
                           fix=f"this server serves model {self.plane.name!r}")
        if version and version != (self.plane.version or ""):
            raise NotFound(f"model {name!r} has no version {version!r}", where="model_version",
                           fix=f"leave model_version empty or use {self.plane.version!r}")

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return self._m["ServerLiveResponse"](live=True)

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return self._m["ServerReadyResponse"](ready=self.plane.ready)

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._check_model(request.name, request.version)
        return self._m["ModelReadyResponse"](ready=self.plane.ready)

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return self._m["ServerMetadataResponse"](name="neuroscale", version=self.server_version, extensions=[])

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._check_model(request.name, request.version)
        meta = self.plane.metadata()
        tensor = self._m["ModelMetadataResponse.TensorMetadata"]
        return self._m["ModelMetadataResponse"](
            name=meta.name, versions=meta.versions, platform=meta.platform,
            inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.inputs],
            outputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.outputs])

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._check_model(request.model_name, request.model_version)
        headers = {key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)}
        return encode_infer(await self.plane.infer(decode_infer(request), headers))


def _mapped(call: Handler, request_type: Any) -> Handler:
    """`call` on the parsed request, with errors as status codes; a request that is not the method's message is
    INVALID_ARGUMENT (parsed by grpc's deserializer, it was UNKNOWN with the protobuf exception's name)."""
    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await call(_parsed(request_type, raw), context)
        except NeuroScaleError as exc:
            await context.abort(status_of(exc), one_line(exc))
            raise  # abort raises; this keeps type checkers sure the function never falls through

    return handle


def _parsed(request_type: Any, raw: bytes) -> Any:
    try:
        return request_type.FromString(raw)
    except DecodeError:
        raise InvalidInput(f"the request is not a valid {request_type.__name__} message", where="request",
                           fix="send the Open Inference Protocol's message for this method") from None


def handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    classes = messages()
    table = {
        method: grpc.unary_unary_rpc_method_handler(
            _mapped(getattr(servicer, method), classes[request]),
            response_serializer=classes[response].SerializeToString,
        )
        for method, (request, response) in METHODS.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE, table)


async def start(plane: Plane, *, host: str, port: int, max_message_bytes: int) -> grpc.aio.Server:
    """Bind and start the gRPC server; `OSError` when the port cannot be bound."""
    from neuroscale.serving.app import own_version

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                      ("grpc.max_send_message_length", -1),
                                      ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handlers(InferenceServicer(plane, version=own_version())),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio raises this when the address is taken
        raise OSError(str(exc)) from None
    if bound == 0:
        raise OSError(f"cannot bind {address}")
    await server.start()
    return server
