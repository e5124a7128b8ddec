"""The data plane's own request/response types and the tensor datatype table.

Both protocols decode into `InferRequest` and encode from `InferResponse`, so the data plane
never sees HTTP or JSON. Datatype names follow the Open Inference Protocol; V1 is "FP64 rows".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NoReturn

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
_NAMES = {dtype: name for name, (dtype, _) in DATATYPES.items() if name != "BYTES"}
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
class RequestedOutput:
    """An output the caller asked for by name, with its own parameters (e.g. `binary_data`)."""

    name: str
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InferRequest:
    inputs: tuple[Tensor, ...]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: tuple[RequestedOutput, ...] = ()  # empty: every output of the model


@dataclass(frozen=True, slots=True)
class InferResponse:
    model_name: str
    model_version: str | None
    outputs: tuple[Tensor, ...]
    id: str | None = None
    parameters: dict[str, Any] | None = None


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The protocol datatype of a prediction array (strings and objects are BYTES)."""
    return _NAMES.get(array.dtype, "BYTES")


def kinds_name(kind: str) -> str:
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
    """Decode a tensor sent with the binary tensor data extension (little-endian, row-major).

    BYTES elements are each a 4-byte little-endian length followed by that many bytes.
    """
    spec = DATATYPES.get(datatype)
    if spec is None:
        raise InvalidInput(
            f"unsupported datatype {datatype!r}", where=where, fix=f"use one of {', '.join(DATATYPES)}"
        )
    if datatype == "BYTES":
        array = _bytes_elements(raw, where=where)
        _check_count(array.size, shape, where=where)
        return array.reshape(shape)
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


def _bytes_elements(raw: bytes, *, where: str) -> np.ndarray[Any, Any]:
    items: list[bytes] = []
    offset, size = 0, len(raw)
    while offset < size:
        if offset + 4 > size:
            raise InvalidInput("BYTES data ends inside an element's 4-byte length", where=where,
                               fix="prefix every BYTES element with its length as a little-endian uint32")
        length = int.from_bytes(raw[offset:offset + 4], "little")
        offset += 4
        if offset + length > size:
            raise InvalidInput(f"a BYTES element of {length} bytes overruns the data", where=where,
                               fix="prefix every BYTES element with its length as a little-endian uint32")
        items.append(bytes(raw[offset:offset + length]))
        offset += length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def to_binary(array: np.ndarray[Any, Any], *, datatype: str) -> bytes:
    """Encode a tensor for the binary tensor data extension (and gRPC raw contents)."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for item in array.ravel():
            data = item if isinstance(item, bytes) else str(item).encode()
            parts += (len(data).to_bytes(4, "little"), data)
        return b"".join(parts)
    dtype = DATATYPES[datatype][0].newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


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
            f"datatype {datatype} but the data holds {kinds_name(raw.dtype.kind)}",
            where=where,
            fix=f"send {datatype} values or declare the matching datatype",
        )
    if shape is not None:
        _check_count(raw.size, shape, where=where)
        raw = raw.reshape(shape)
    return cast(raw, datatype=datatype, where=where)


def cast(raw: np.ndarray[Any, Any], *, datatype: str, where: str) -> np.ndarray[Any, Any]:
    """`raw` as `datatype`, refusing a value the type cannot hold: numpy would wrap 300 to 44 as UINT8 and
    -1 to 255, or turn 70000 into infinity as FP16, and the model would answer for numbers nobody sent."""
    dtype = DATATYPES[datatype][0]
    if raw.dtype == dtype or not raw.size or dtype.kind not in "iuf":
        return raw.astype(dtype, copy=False)
    if dtype.kind in "iu":
        low, high = raw.min(), raw.max()
        info = np.iinfo(dtype)
        if low < info.min or high > info.max:
            _out_of_range(low if low < info.min else high, datatype=datatype, where=where,
                          bounds=f"{info.min} to {info.max}")
        return raw.astype(dtype)
    array = raw.astype(dtype)
    finite = np.isfinite(array)  # JSON has no infinity: one here is a value past the type's range
    if not finite.all():
        _out_of_range(raw.flat[int(np.argmin(finite))], datatype=datatype, where=where,
                      bounds=f"±{float(np.finfo(dtype).max):g}")
    return array


def _out_of_range(value: Any, *, datatype: str, where: str, bounds: str) -> NoReturn:
    raise InvalidInput(f"value {value} does not fit {datatype} ({bounds})", where=where,
                       fix=f"send values within {datatype}'s range, or declare a wider datatype")


def instances_request(doc: dict[str, Any]) -> InferRequest:
    """A KServe V1 body as a request of one tensor: a list of strings is BYTES, anything else FP64 rows."""
    try:
        instances = doc["instances"]
    except KeyError:
        raise InvalidInput(
            'missing "instances"', where="request body", fix='send {"instances": [[f1, f2, ...], ...]}'
        ) from None
    strings = isinstance(instances, list) and bool(instances) and all(isinstance(i, str) for i in instances)
    datatype = "BYTES" if strings else "FP64"
    data = to_array(instances, datatype=datatype, shape=None, where="instances")
    return InferRequest(inputs=(Tensor("instances", datatype, data),))
