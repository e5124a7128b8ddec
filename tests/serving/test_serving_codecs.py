"""Codecs: JSON bodies of both protocols -> the data plane's request type, and back."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from neuroscale.errors import InvalidInput
from neuroscale.serving import v1, v2
from neuroscale.serving.tensors import InferResponse, Tensor, datatype_of, to_array


def _v2_body(**tensor: Any) -> bytes:
    base = {"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}
    return orjson.dumps({"inputs": [base | tensor]})


@pytest.mark.parametrize(
    ("data", "datatype", "shape", "dtype", "expected_shape"),
    [
        ([1.5, 2.5, 3.5, 4.5], "FP64", [2, 2], np.float64, (2, 2)),
        ([[1, 2], [3, 4]], "FP32", [2, 2], np.float32, (2, 2)),  # JSON integers are fine for floats
        ([1, 2, 3], "INT32", [3], np.int32, (3,)),
        ([1, 2], "INT64", [1, 2], np.int64, (1, 2)),
        ([True, False], "BOOL", [2], np.bool_, (2,)),
        (["a", "b"], "BYTES", [2], object, (2,)),
        ([[6.8, 2.8], [6.0, 3.4]], "FP64", None, np.float64, (2, 2)),
        ([0, 255], "UINT8", [2], np.uint8, (2,)),  # the ends of each range still fit
        ([-128, 127], "INT8", [2], np.int8, (2,)),
        ([-65504.0, 65504], "FP16", [2], np.float16, (2,)),
    ],
)
def test_to_array_accepts(data: Any, datatype: str, shape: Any, dtype: Any, expected_shape: tuple[int, ...]) -> None:
    array = to_array(data, datatype=datatype, shape=shape, where="x")
    assert array.dtype == np.dtype(dtype)
    assert array.shape == expected_shape


@pytest.mark.parametrize(
    ("data", "datatype", "shape", "message"),
    [
        (["1.0", "2.0"], "FP64", [2], "holds strings"),
        ([1.5, 2.5], "INT64", [2], "holds floats"),
        ([1, 0], "BOOL", [2], "holds integers"),
        ([1, 2], "BYTES", [2], "holds integers"),
        ([{"a": 1}], "FP64", [1], "holds objects"),
        ([[1, 2], [3]], "FP64", [2, 2], "ragged"),
        ([1, 2, 3], "FP64", [2, 2], "needs 4 values but data has 3"),
        ([1, 2], "FP128", [2], "unsupported datatype"),
        ([1, 300], "UINT8", [2], r"value 300 does not fit UINT8 \(0 to 255\)"),  # numpy would wrap it to 44
        ([-1, 2], "UINT32", [2], "value -1 does not fit UINT32"),
        ([1, 2**40], "INT32", [2], f"value {2**40} does not fit INT32"),
        ([1.0, 70000.0], "FP16", [2], "value 70000.0 does not fit FP16"),  # numpy would make it infinity
        ([1.0, 1e39], "FP32", [2], r"value 1e\+39 does not fit FP32"),
    ],
)
def test_to_array_refuses(data: Any, datatype: str, shape: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        to_array(data, datatype=datatype, shape=shape, where="inputs[0]")
    assert info.value.where == "inputs[0]" and info.value.fix


def test_v1_decode_gives_fp64_rows() -> None:
    request = v1.decode_predict(b'{"instances": [[1, 2], [3, 4.5]]}')
    (tensor,) = request.inputs
    assert tensor.data.dtype == np.float64 and tensor.data.tolist() == [[1.0, 2.0], [3.0, 4.5]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"instances": [[1, 2]', "malformed JSON"),
        (b"", "malformed JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"inputs": [[1, 2]]}', 'missing "instances"'),
        (b'{"instances": [["a", "b"]]}', "holds strings"),
        (b'{"instances": [[1, 2], [3]]}', "ragged"),
    ],
)
def test_v1_decode_refuses(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        v1.decode_predict(body)


def test_v2_decode_keeps_id_parameters_and_shape() -> None:
    body = orjson.dumps({
        "id": "req-7",
        "parameters": {"content_type": "np"},
        "inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]],
                    "parameters": {"ignored": True}}],
        "outputs": [{"name": "output-0"}],
    })
    request = v2.decode_infer(body)
    assert request.id == "req-7" and request.parameters == {"content_type": "np"}
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", "INT32", [2, 2])
    assert tensor.data.dtype == np.int32


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "malformed JSON"),
        (b'{"instances": [[1, 2]]}', 'missing or empty "inputs"'),
        (b'{"inputs": []}', 'missing or empty "inputs"'),
        (b'{"inputs": [7]}', "each input must be an object"),
        (b'{"inputs": [{"name": "x"}], "id": 5}', '"id" must be a string'),
        (b'{"inputs": [{"name": "x"}], "parameters": [1]}', '"parameters" must be an object'),
        (_v2_body(name=""), 'missing "name"'),
        (_v2_body(shape="2x2"), '"shape" must be a list'),
        (_v2_body(shape=[1, -2]), '"shape" must be a list'),
        (_v2_body(shape=[1, 2.0]), '"shape" must be a list'),
        (_v2_body(datatype=None), 'missing "datatype"'),
        (_v2_body(datatype="FLOAT"), "unsupported datatype"),
        (_v2_body(data=["6.8", "2.8"]), "holds strings"),
        (_v2_body(shape=[1, 4]), "needs 4 values but data has 2"),
        (orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}), 'either "data" or binary'),
    ],
)
def test_v2_decode_refuses(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        v2.decode_infer(body)


@pytest.mark.parametrize(
    ("array", "datatype", "data"),
    [
        (np.array([1, 1]), "INT64", [1, 1]),
        (np.array([[0.25, 0.75]], dtype=np.float32), "FP32", [0.25, 0.75]),
        (np.array(["setosa", "virginica"]), "BYTES", ["setosa", "virginica"]),
        (np.array([True]), "BOOL", [True]),
    ],
)
def test_v2_encode_flattens_and_names_datatype(array: np.ndarray, datatype: str, data: list[Any]) -> None:
    assert datatype_of(array) == datatype
    response = InferResponse(model_name="m", model_version="r1", outputs=(Tensor("output-0", datatype, array),), id="a")
    body, json_length = v2.encode_infer(response)
    assert json_length is None
    doc = orjson.loads(body)
    assert doc == {"model_name": "m", "model_version": "r1", "id": "a",
                   "outputs": [{"name": "output-0", "shape": list(array.shape), "datatype": datatype, "data": data}]}
    assert orjson.loads(v1.encode_predict(response)) == {"predictions": array.tolist()}


def _binary_body(array: np.ndarray, *, datatype: str, size: Any = None, data: Any = None,
                 extra: bytes = b"") -> tuple[bytes, int]:
    tensor: dict[str, Any] = {"name": "input-0", "shape": list(array.shape), "datatype": datatype,
                              "parameters": {"binary_data_size": array.nbytes if size is None else size}}
    if data is not None:
        tensor["data"] = data
    header = orjson.dumps({"inputs": [tensor]})
    return header + array.astype(array.dtype.newbyteorder("<")).tobytes() + extra, len(header)


@pytest.mark.parametrize("datatype", ["FP64", "FP32", "INT32", "BOOL"])
def test_v2_binary_tensor_extension(datatype: str) -> None:
    dtype = {"FP64": np.float64, "FP32": np.float32, "INT32": np.int32, "BOOL": np.bool_}[datatype]
    array = (np.arange(8).reshape(2, 4) % 2).astype(dtype)
    body, length = _binary_body(array, datatype=datatype)
    (tensor,) = v2.decode_infer(body, header_length=v2.json_length([(b"inference-header-content-length",
                                                                     str(length).encode())])).inputs
    assert tensor.data.dtype == np.dtype(dtype) and tensor.data.tolist() == array.tolist()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda a: (_binary_body(a, datatype="FP64")[0], 10_000), "does not fit a body"),
        (lambda a: _binary_body(a, datatype="FP64", size=128), "does not fit the 64 bytes left"),
        (lambda a: _binary_body(a, datatype="FP64", size=-1), "binary_data_size -1"),
        (lambda a: _binary_body(a, datatype="FP64", extra=b"xx"), "2 bytes of binary data belong to no input"),
        (lambda a: _binary_body(a, datatype="FP64", data=[1.0] * 8), 'either "data" or binary'),
        (lambda a: _binary_body(a, datatype="BYTES"), "overruns the data"),
        (lambda a: _binary_body(a, datatype="FP64", size=60), "not a whole number of FP64 values"),
        (lambda a: _binary_body(a[:, :2], datatype="FP64", size=64), "does not fit the 32 bytes left"),
        (lambda a: _binary_body(a.astype(np.float32), datatype="FP64"), "needs 8 values but data has 4"),
    ],
)
def test_v2_binary_tensor_errors(build: Any, message: str) -> None:
    body, length = build(np.ones((2, 4)))
    with pytest.raises(InvalidInput, match=message):
        v2.decode_infer(body, header_length=length)


def test_v2_header_length_must_be_an_integer() -> None:
    with pytest.raises(InvalidInput, match="not an integer"):
        v2.json_length([(b"inference-header-content-length", b"ten")])
