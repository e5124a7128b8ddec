"""The Open Inference Protocol's gRPC messages (package `inference`), built from a table at runtime.

Why not generated `_pb2` modules: the wire format is all we need, and a table of field numbers is
smaller, readable and typed-checkable, with no protoc step and no generated code in the tree. The
messages live in a private descriptor pool, so they never clash with a client library that
registers the same `inference.*` names in the default pool (tritonclient, kserve) in one process.

Field numbers follow the protocol (Triton's `grpc_service.proto`, which KServe's V2 proto
mirrors); `InferParameter` carries Triton's `double_param`/`uint64_param` too. The conformance
tests check these messages against tritonclient's and kserve's own clients.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"
_F = descriptor_pb2.FieldDescriptorProto
BOOL, INT32, INT64, UINT32, UINT64 = _F.TYPE_BOOL, _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64
FLOAT, DOUBLE, STRING, BYTES, MESSAGE = _F.TYPE_FLOAT, _F.TYPE_DOUBLE, _F.TYPE_STRING, _F.TYPE_BYTES, _F.TYPE_MESSAGE

#: message name (dotted for nested) -> fields (name, number, type or "Message" / "map:Message", repeated)
MESSAGES: dict[str, list[tuple[str, int, Any, bool]]] = {
    "ServerLiveRequest": [],
    "ServerLiveResponse": [("live", 1, BOOL, False)],
    "ServerReadyRequest": [],
    "ServerReadyResponse": [("ready", 1, BOOL, False)],
    "ModelReadyRequest": [("name", 1, STRING, False), ("version", 2, STRING, False)],
    "ModelReadyResponse": [("ready", 1, BOOL, False)],
    "ServerMetadataRequest": [],
    "ServerMetadataResponse": [("name", 1, STRING, False), ("version", 2, STRING, False),
                               ("extensions", 3, STRING, True)],
    "ModelMetadataRequest": [("name", 1, STRING, False), ("version", 2, STRING, False)],
    "ModelMetadataResponse": [("name", 1, STRING, False), ("versions", 2, STRING, True),
                              ("platform", 3, STRING, False), ("inputs", 4, "TensorMetadata", True),
                              ("outputs", 5, "TensorMetadata", True)],
    "ModelMetadataResponse.TensorMetadata": [("name", 1, STRING, False), ("datatype", 2, STRING, False),
                                             ("shape", 3, INT64, True)],
    "ModelInferRequest": [("model_name", 1, STRING, False), ("model_version", 2, STRING, False),
                          ("id", 3, STRING, False), ("parameters", 4, "map:InferParameter", True),
                          ("inputs", 5, "InferInputTensor", True),
                          ("outputs", 6, "InferRequestedOutputTensor", True),
                          ("raw_input_contents", 7, BYTES, True)],
    "ModelInferRequest.InferInputTensor": [("name", 1, STRING, False), ("datatype", 2, STRING, False),
                                           ("shape", 3, INT64, True), ("parameters", 4, "map:InferParameter", True),
                                           ("contents", 5, "InferTensorContents", False)],
    "ModelInferRequest.InferRequestedOutputTensor": [("name", 1, STRING, False), ("parameters", 2, "map:InferParameter", True)],
    "ModelInferResponse": [("model_name", 1, STRING, False), ("model_version", 2, STRING, False),
                           ("id", 3, STRING, False), ("parameters", 4, "map:InferParameter", True),
                           ("outputs", 5, "InferOutputTensor", True), ("raw_output_contents", 6, BYTES, True)],
    "ModelInferResponse.InferOutputTensor": [("name", 1, STRING, False), ("datatype", 2, STRING, False),
                                             ("shape", 3, INT64, True), ("parameters", 4, "map:InferParameter", True),
                                             ("contents", 5, "InferTensorContents", False)],
    "InferParameter": [("bool_param", 1, BOOL, False), ("int64_param", 2, INT64, False),
                       ("string_param", 3, STRING, False), ("double_param", 4, DOUBLE, False),
                       ("uint64_param", 5, UINT64, False)],
    "InferTensorContents": [("bool_contents", 1, BOOL, True), ("int_contents", 2, INT32, True),
                            ("int64_contents", 3, INT64, True), ("uint_contents", 4, UINT32, True),
                            ("uint64_contents", 5, UINT64, True), ("fp32_contents", 6, FLOAT, True),
                            ("fp64_contents", 7, DOUBLE, True), ("bytes_contents", 8, BYTES, True)],
}
#: rpc name -> (request, response) message names
METHODS: dict[str, tuple[str, str]] = {
    name: (f"{name}Request", f"{name}Response")
    for name in ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")
}
_ONEOF = {"InferParameter": "parameter_choice"}


def _message(name: str, fields: list[tuple[str, int, Any, bool]]) -> descriptor_pb2.DescriptorProto:
    proto = descriptor_pb2.DescriptorProto(name=name.rsplit(".", 1)[-1])
    for field_name, number, kind, repeated in fields:
        field = proto.field.add(name=field_name, number=number,
                                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
        if isinstance(kind, str) and kind.startswith("map:"):
            entry = proto.nested_type.add(name="ParametersEntry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=STRING, label=_F.LABEL_OPTIONAL)
            entry.field.add(name="value", number=2, type=MESSAGE, label=_F.LABEL_OPTIONAL,
                            type_name=f".{PACKAGE}.{kind[4:]}")
            field.type, field.type_name = MESSAGE, f".{PACKAGE}.{name}.ParametersEntry"
        elif isinstance(kind, str):
            nested = f"{name}.{kind}" if f"{name}.{kind}" in MESSAGES else kind
            field.type, field.type_name = MESSAGE, f".{PACKAGE}.{nested}"
        else:
            field.type = kind
        if name in _ONEOF:
            field.oneof_index = 0
    if name in _ONEOF:
        proto.oneof_decl.add(name=_ONEOF[name])
    return proto


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="neuroscale/open_inference_v2.proto", package=PACKAGE,
                                              syntax="proto3")
    built: dict[str, descriptor_pb2.DescriptorProto] = {}
    for name, fields in MESSAGES.items():  # parents come before their nested messages in the table
        proto = _message(name, fields)
        parent, _, _ = name.rpartition(".")
        if parent:
            built[parent].nested_type.append(proto)
            built[name] = built[parent].nested_type[-1]
        else:
            file.message_type.append(proto)
            built[name] = file.message_type[-1]
    service = file.service.add(name=SERVICE.rsplit(".", 1)[-1])
    for method, (request, response) in METHODS.items():
        service.method.add(name=method, input_type=f".{PACKAGE}.{request}", output_type=f".{PACKAGE}.{response}")
    return file


@cache
def messages() -> dict[str, type[Any]]:
    """Every message class by its (dotted) name, from a private descriptor pool."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in MESSAGES}
