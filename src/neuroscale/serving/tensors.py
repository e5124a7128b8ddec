"""The data plane's own request/response types and the tensor datatype table.

Both protocols decode into `InferRequest` and encode from `InferResponse`, so the data plane
never sees HTTP or JSON. Datatype names follow the Open Inference Protocol; V1 is "FP64 rows".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroscale.errors import InvalidInput

#: Open Inference Protocol datatype -> numpy dtype, and which numpy kinds JSON data may arrive as.
DATATYPES: dict[str, tuple[np.dtype[Any], str]] = {
    "BOOL": (np.dtype(np.bool_), "b"),
    "UINT8": (np.dtype(np.uint8), "iu"),
    "UINT16": (np.dtype(np.uint16), "iu"),
    "UINT32": (np.dtype(np.uint32), "iu"),
    "UINT64": (np.dtype(np.uint64), "iu"),
    "INT8": (np.dtype(np.int8), "iu"),
    "INT16": (np.dtype(np.int16), "iu"),
    "INT32": (np.dtype(np.int32), "iu"),
    "INT64": (np.dtype(np.int64), "iu"),
    "FP16": (np.dtype(np.float16), "iuf"),
    "FP32": (np.dtype(np.float32), "iuf"),
    "FP64": (np.dtype(np.float64), "iuf"),
    "BYTES": (np.dtype(object), "U"),
}
_KIND_NAMES = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats", "U": "strings", "O": "objects"}


@dataclass(frozen=True, slots=True)
class Tensor:
    """A named n-dimensional array; `data` already has `shape`."""

    name: str
    datatype: str
    data: np.ndarray[Any, Any]

    @property
    def shape(self) -> list[int]:
        return list(self.data.shape)


@dataclass(frozen=True, slots=True)
class InferRequest:
    inputs: tuple[Tensor, ...]
    id: str | None = None
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InferResponse:
    model_name: str
    model_version: str | None
    outputs: tuple[Tensor, ...]
    id: str | None = None


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The protocol datatype of a prediction array (strings and objects are BYTES)."""
    for name, (dtype, _) in DATATYPES.items():
        if array.dtype == dtype and name != "BYTES":
            return name
    return "BYTES"


def _kinds_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, f"numpy kind {kind!r}")


def _check_count(count: int, shape: list[int], *, where: str) -> None:
    expected = math.prod(shape)
    if count != expected:
        raise InvalidInput(
            f"shape {shape} needs {expected} values but data has {count}",
            where=where,
            fix="make the data length match the product of the shape",
        )


def from_binary(raw: bytes, *, datatype: str, shape: list[int], where: str) -> np.ndarray[Any, Any]:
    """Decode a tensor sent with the binary tensor data extension (little-endian, row-major)."""
    spec = DATATYPES.get(datatype)
    if spec is None or datatype == "BYTES":
        raise InvalidInput(
            f"binary data of datatype {datatype!r} is not supported",
            where=where,
            fix="send numeric or BOOL tensors as binary, or send the values as JSON \"data\"",
        )
    dtype = spec[0].newbyteorder("<")
    if len(raw) % dtype.itemsize:
        raise InvalidInput(
            f"{len(raw)} bytes of binary data is not a whole number of {datatype} values",
            where=where,
            fix="check binary_data_size and the datatype",
        )
    array = np.frombuffer(raw, dtype=dtype)
    _check_count(array.size, shape, where=where)
    return array.reshape(shape)


def to_array(data: Any, *, datatype: str, shape: list[int] | None, where: str) -> np.ndarray[Any, Any]:
    """Convert JSON data to an array of `datatype`, checking kinds, raggedness and the declared shape."""
    spec = DATATYPES.get(datatype)
    if spec is None:
        raise InvalidInput(
            f"unsupported datatype {datatype!r}",
            where=where,
            fix=f"use one of {', '.join(DATATYPES)}",
        )
    dtype, kinds = spec
    try:
        raw = np.asarray(data)
    except ValueError as exc:  # numpy refuses ragged nested lists
        raise InvalidInput(
            f"data is ragged: {exc}", where=where, fix="every row must have the same number of values"
        ) from None
    if raw.size and raw.dtype.kind not in kinds:
        raise InvalidInput(
            f"datatype {datatype} but the data holds {_kinds_name(raw.dtype.kind)}",
            where=where,
            fix=f"send {datatype} values or declare the matching datatype",
        )
    if shape is not None:
        _check_count(raw.size, shape, where=where)
        raw = raw.reshape(shape)
    return raw.astype(dtype, copy=False)
