"""ONNX models, custom predictor classes and transformers, and the rest of the V2 REST protocol, in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from neuroscale.errors import ModelLoadError
from neuroscale.serving.app import ServingApp, create_app
from neuroscale.serving.settings import ServingSettings
from neuroscale.serving.tensors import to_binary
from tests.conftest import IRIS_ROWS

FLAT = [x for row in IRIS_ROWS for x in row]


@pytest.fixture(scope="session")
def onnx_iris(models_root: Path) -> Path:
    """A scikit-learn classifier converted by skl2onnx (tensor outputs: label, probabilities)."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    model = LogisticRegression(max_iter=1000, random_state=0).fit(data.data, data.target)
    path = _folder(models_root / "onnx-iris") / "model.onnx"
    onx = to_onnx(model, data.data[:1].astype(np.float32), options={id(model): {"zipmap": False}},
                  target_opset=17)
    path.write_bytes(onx.SerializeToString())
    return path


@pytest.fixture(scope="session")
def onnx_zipmap(models_root: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    model = LogisticRegression(max_iter=1000).fit(data.data, data.target)
    path = _folder(models_root / "onnx-zipmap") / "model.onnx"
    path.write_bytes(to_onnx(model, data.data[:1].astype(np.float32), target_opset=17).SerializeToString())
    return path


@pytest.fixture(scope="session")
def onnx_two_inputs(models_root: Path) -> Path:
    """a + b and a * b over two named FP32 inputs of shape [N, 2], built with onnx.helper."""
    from onnx import TensorProto, helper

    def tensor(name: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 2])

    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["product"])],
                              "two", [tensor("a"), tensor("b")], [tensor("sum"), tensor("product")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = _folder(models_root / "onnx-two") / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _roots(models_root: Path) -> None:
    ROOTS[:] = [models_root]


ROOTS: list[Path] = []  # the session's model root, for app_for


def app_for(**settings: Any) -> ServingApp:
    base: dict[str, Any] = {"model_name": "m", "port": 0, "revision": "m-00001", "storage_uri": "",
                            "model_roots": tuple(ROOTS)}
    return create_app(ServingSettings(**(base | settings)))


def call(app: ServingApp, method: str, path: str, *, body: Any = None, content: bytes | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.request(method, path, json=body, content=content, headers=headers)

    return asyncio.run(go())


def split_binary(response: httpx.Response) -> tuple[dict[str, Any], bytes]:
    length = int(response.headers["inference-header-content-length"])
    return orjson.loads(response.content[:length]), response.content[length:]


# -- ONNX ---------------------------------------------------------------------------------------

def test_onnx_model_reports_its_graph_and_predicts(onnx_iris: Path) -> None:
    app = app_for(model_format="onnx", storage_uri=str(onnx_iris.parent))
    meta = call(app, "GET", "/v2/models/m").json()
    assert meta["platform"] == "onnx"
    assert meta["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [("label", "INT64"), ("probabilities", "FP32")]
    assert call(app, "POST", "/v1/models/m:predict", body={"instances": IRIS_ROWS}).json() == {"predictions": [1, 1]}
    answer = call(app, "POST", "/v2/models/m/infer", body={"inputs": [
        {"name": "X", "shape": [2, 4], "datatype": "FP64", "data": FLAT}]}).json()
    label, probabilities = answer["outputs"]
    assert label["data"] == [1, 1] and probabilities["shape"] == [2, 3]
    assert np.allclose(np.reshape(probabilities["data"], (2, 3)).sum(axis=1), 1.0, atol=1e-5)


def test_onnx_outputs_selection_and_binary_outputs(onnx_iris: Path) -> None:
    app = app_for(model_format="onnx", storage_uri=str(onnx_iris))
    response = call(app, "POST", "/v2/models/m/infer", body={
        "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": FLAT}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]})
    assert response.headers["content-type"] == "application/octet-stream"
    head, raw = split_binary(response)
    (output,) = head["outputs"]
    assert output["name"] == "probabilities" and "data" not in output
    assert output["parameters"] == {"binary_data_size": 24} and len(raw) == 24
    assert np.allclose(np.frombuffer(raw, dtype="<f4").reshape(2, 3).sum(axis=1), 1.0, atol=1e-5)
    unknown = call(app, "POST", "/v2/models/m/infer", body={
        "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": FLAT}],
        "outputs": [{"name": "scores"}]})
    assert unknown.status_code == 422 and "no output 'scores'" in unknown.json()["error"]


def test_onnx_model_with_named_inputs(onnx_two_inputs: Path) -> None:
    app = app_for(model_format="onnx", storage_uri=str(onnx_two_inputs))
    a, b = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]
    answer = call(app, "POST", "/v2/models/m/infer", body={"inputs": [
        {"name": "b", "shape": [2, 2], "datatype": "FP32", "data": b},
        {"name": "a", "shape": [2, 2], "datatype": "FP32", "data": a}]}).json()
    assert {o["name"]: o["data"] for o in answer["outputs"]} == {"sum": [11, 22, 33, 44], "product": [10, 40, 90, 160]}
    missing = call(app, "POST", "/v2/models/m/infer", body={"inputs": [
        {"name": "a", "shape": [2, 2], "datatype": "FP32", "data": a},
        {"name": "c", "shape": [2, 2], "datatype": "FP32", "data": b}]})
    assert missing.status_code == 422
    assert "missing ['b'] and unknown ['c']" in missing.json()["error"]


def test_onnx_refuses_non_tensor_outputs_and_broken_files(onnx_zipmap: Path, model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="zipmap"):
        app_for(model_format="onnx", storage_uri=str(onnx_zipmap))
    broken = model_dir / "model.onnx"
    broken.write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match="cannot load the file as an ONNX model"):
        app_for(model_format="onnx", storage_uri=str(broken))


# -- the V2 protocol's extensions on a tabular model --------------------------------------------

def test_binary_inputs_and_outputs_for_every_numeric_datatype(iris_model: Path) -> None:
    app = app_for(model_format="sklearn", storage_uri=str(iris_model))
    for datatype, dtype in (("FP32", "<f4"), ("FP64", "<f8"), ("INT64", "<i8")):
        raw = to_binary(np.asarray(IRIS_ROWS).astype(dtype), datatype=datatype)
        head = orjson.dumps({"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": datatype,
                                         "parameters": {"binary_data_size": len(raw)}}],
                             "parameters": {"binary_data_output": True}})
        response = call(app, "POST", "/v2/models/m/infer", content=head + raw,
                        headers={"inference-header-content-length": str(len(head))})
        doc, data = split_binary(response)
        assert doc["outputs"][0]["parameters"] == {"binary_data_size": 16}
        assert np.frombuffer(data, dtype="<i8").tolist() == [1, 1], datatype


def test_an_output_can_ask_for_json_when_the_request_asks_for_binary(iris_model: Path) -> None:
    app = app_for(model_format="sklearn", storage_uri=str(iris_model))
    response = call(app, "POST", "/v2/models/m/infer", body={
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": FLAT}],
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "output-0", "parameters": {"binary_data": False}}]})
    assert "inference-header-content-length" not in response.headers
    assert response.json()["outputs"][0]["data"] == [1, 1]
    bad = call(app, "POST", "/v2/models/m/infer", body={
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": FLAT}],
        "outputs": [{"name": "output-0", "parameters": {"binary_data": "yes"}}]})
    assert bad.status_code == 422 and "true or false" in bad.json()["error"]


# -- custom predictors and transformers (classes following KServe's Model contract) -------------

def test_custom_predictor_class_serves_v1_and_v2() -> None:
    app = app_for(model_format="custom", model_class="tests.serving.custom_models:Doubler")
    v1 = call(app, "POST", "/v1/models/m:predict", body={"instances": [[1, 2]]}, headers={"x-trace": "t-1"})
    assert v1.json() == {"predictions": [[2, 4]], "saw_header": "t-1"}
    v2 = call(app, "POST", "/v2/models/m/infer", body={
        "id": "r", "inputs": [{"name": "x", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}]}).json()
    assert v2 == {"model_name": "m", "id": "r",
                  "outputs": [{"name": "x-doubled", "shape": [3], "datatype": "INT64", "data": [2, 4, 6]}]}
    meta = call(app, "GET", "/v2/models/m").json()
    assert meta["platform"] == "custom" and meta["inputs"] == [{"name": "x", "datatype": "FP64", "shape": [-1]}]


def test_a_custom_model_that_raises_fails_that_request_with_one_line() -> None:
    app = app_for(model_format="custom", model_class="tests.serving.custom_models:Doubler")
    response = call(app, "POST", "/v1/models/m:predict", body={"instances": "explode"})
    assert response.status_code == 500
    doc = response.json()
    assert doc["reason"] == "PredictionFailed" and "RuntimeError: the model broke" in doc["error"]
    assert "Traceback" not in response.text
    assert call(app, "POST", "/v1/models/m:predict", body={"instances": [1]}).json()["predictions"] == [2]


@pytest.mark.parametrize(("target", "message"), [
    ("tests.serving.custom_models:FailsToLoad", "raised in load(): FileNotFoundError: weights.bin is missing"),
    ("tests.serving.custom_models:NeverReady", "left it not ready"),
    ("tests.serving.custom_models:Missing", "has no Missing"),
    ("no_such_package.models:Model", "cannot import no_such_package.models"),
    ("tests.serving.custom_models", "is not of the form package.module:Class"),
    ("tests.serving.custom_models:np", "is a module, not a class"),
])
def test_custom_classes_that_cannot_serve_fail_to_load_with_a_fix(target: str, message: str) -> None:
    with pytest.raises(ModelLoadError) as caught:
        app_for(model_format="custom", model_class=target)
    assert message in caught.value.message and caught.value.fix


def test_transformer_is_chained_in_front_of_a_builtin_predictor(iris_model: Path) -> None:
    app = app_for(model_format="sklearn", storage_uri=str(iris_model),
                  transformer_class="tests.serving.custom_models:ScaleTransformer")
    tenfold = [[x * 10 for x in row] for row in IRIS_ROWS]
    assert call(app, "POST", "/v1/models/m:predict", body={"instances": tenfold}).json() == {
        "predictions": ["versicolor", "versicolor"]}
    answer = call(app, "POST", "/v2/models/m/infer", body={
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": [x * 10 for x in FLAT]}]}).json()
    assert answer["outputs"] == [{"name": "label", "shape": [2], "datatype": "BYTES", "data": ["versicolor"] * 2}]
