"""gRPC in the model server process: typed and raw contents, clear status codes for bad calls, unload."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from neuroscale.serving.oip_proto import SERVICE, messages
from tests.conftest import IRIS_ROWS, REPO_ROOT, free_port, running

pytestmark = pytest.mark.e2e
M = messages()


@pytest.fixture(scope="module")
def grpc_iris(iris_model: Path) -> Iterator[tuple[grpc.Channel, subprocess.Popen[bytes]]]:
    port, grpc_port = free_port(), free_port()
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
            "--storage-uri", str(iris_model), "--port", str(port), "--grpc-port", str(grpc_port),
            "--max-body-bytes", "4096", "--max-batch-size", "16", "--model-root", str(iris_model.parent)]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready") as process, \
            grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        yield channel, process


def call(channel: grpc.Channel, method: str, request: Any) -> Any:
    response_type = M[method + "Response"]
    stub = channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_type.FromString)
    return stub(request, timeout=10)


def infer_request(rows: Any, *, raw: bool = True, name: str = "iris") -> Any:
    request = M["ModelInferRequest"](model_name=name, id="g-1")
    array = np.asarray(rows, dtype=np.float64)
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=list(array.shape))
    if raw:
        request.raw_input_contents.append(array.astype("<f8").tobytes())
    else:
        tensor.contents.fp64_contents.extend(array.ravel().tolist())
    return request


@pytest.mark.parametrize("raw", [True, False])
def test_raw_and_typed_contents_predict(grpc_iris: Any, raw: bool) -> None:
    channel, _ = grpc_iris
    answer = call(channel, "ModelInfer", infer_request(IRIS_ROWS, raw=raw))
    assert (answer.model_name, answer.id, answer.outputs[0].name, answer.outputs[0].datatype) == (
        "iris", "g-1", "output-0", "INT64")
    assert np.frombuffer(answer.raw_output_contents[0], dtype="<i8").tolist() == [1, 1]


def test_health_and_metadata(grpc_iris: Any) -> None:
    channel, _ = grpc_iris
    assert call(channel, "ServerLive", M["ServerLiveRequest"]()).live
    assert call(channel, "ServerReady", M["ServerReadyRequest"]()).ready
    assert call(channel, "ModelReady", M["ModelReadyRequest"](name="iris")).ready
    meta = call(channel, "ModelMetadata", M["ModelMetadataRequest"](name="iris"))
    assert (meta.platform, [(t.name, t.datatype, list(t.shape)) for t in meta.inputs]) == (
        "sklearn", [("input-0", "FP64", [-1, 4])])
    assert call(channel, "ServerMetadata", M["ServerMetadataRequest"]()).name == "neuroscale"


def _bad_raw_count() -> Any:
    request = infer_request(IRIS_ROWS)
    request.raw_input_contents.append(b"")
    return request


def _typed_count_mismatch() -> Any:
    request = infer_request(IRIS_ROWS, raw=False)
    request.inputs[0].contents.fp64_contents.append(1.0)
    return request


def _typed_out_of_range() -> Any:
    request = M["ModelInferRequest"](model_name="iris")
    tensor = request.inputs.add(name="input-0", datatype="UINT8", shape=[1, 4])
    tensor.contents.uint_contents.extend([300, 2, 4, 1])  # uint32 on the wire; UINT8 cannot hold 300
    return request


class _NotAMessage(bytes):
    """Bytes sent as they are (the model name, then a field that ends mid-varint), as a broken client would."""

    def SerializeToString(self) -> bytes:
        return bytes(self)


@pytest.mark.parametrize(("request_factory", "code", "needle"), [
    (lambda: infer_request(IRIS_ROWS, name="rose"), grpc.StatusCode.NOT_FOUND, "model 'rose' is not served here"),
    (lambda: infer_request([[1.0, 2.0, 3.0]]), grpc.StatusCode.INVALID_ARGUMENT, "expects 4 features per row"),
    (_bad_raw_count, grpc.StatusCode.INVALID_ARGUMENT, "2 raw_input_contents for 1 inputs"),
    (_typed_count_mismatch, grpc.StatusCode.INVALID_ARGUMENT, "needs 8 values but contents has 9"),
    (_typed_out_of_range, grpc.StatusCode.INVALID_ARGUMENT, "value 300 does not fit UINT8"),
    (lambda: _NotAMessage(b"\x0a\x04iris\xff\xff"), grpc.StatusCode.INVALID_ARGUMENT,
     "not a valid ModelInferRequest message"),
    (lambda: infer_request([[1.0] * 4] * 200), grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"),
    (lambda: M["ModelInferRequest"](model_name="iris"), grpc.StatusCode.INVALID_ARGUMENT, "no inputs"),
])
def test_bad_calls_get_a_clear_status_and_the_server_keeps_serving(grpc_iris: Any, request_factory: Any,
                                                                  code: grpc.StatusCode, needle: str) -> None:
    channel, _ = grpc_iris
    with pytest.raises(grpc.RpcError) as caught:
        call(channel, "ModelInfer", request_factory())
    assert caught.value.code() == code and needle in caught.value.details()
    assert "Traceback" not in caught.value.details()
    assert np.frombuffer(call(channel, "ModelInfer", infer_request(IRIS_ROWS)).raw_output_contents[0],
                         dtype="<i8").tolist() == [1, 1]


def test_calls_during_unload_are_answered_or_refused_never_hung(iris_model: Path) -> None:
    port, grpc_port = free_port(), free_port()
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
            "--storage-uri", str(iris_model), "--port", str(port), "--grpc-port", str(grpc_port),
            "--max-batch-size", "8", "--model-root", str(iris_model.parent)]
    outcomes: set[str] = set()
    with running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready") as process, \
            grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        assert call(channel, "ModelInfer", infer_request(IRIS_ROWS)).outputs
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            try:
                call(channel, "ModelInfer", infer_request(IRIS_ROWS))
                outcomes.add("answered")
            except grpc.RpcError as exc:
                assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), exc.details()
                outcomes.add(exc.code().name)
        assert process.wait(timeout=20) == 0
    assert "UNAVAILABLE" in outcomes


KSERVE_PYTHON = REPO_ROOT / ".venv-kserve" / "bin" / "python"


@pytest.mark.skipif(not KSERVE_PYTHON.exists(), reason=f"kserve venv absent at {KSERVE_PYTHON}: run `make kserve-venv`")
def test_an_unchanged_kserve_custom_model_and_transformer_run_in_the_kserve_environment() -> None:
    """kserve.Model subclasses (tests/serving/kserve_models.py) served where kserve is installed."""
    import httpx

    port, grpc_port = free_port(), free_port()
    env = {"PYTHONPATH": f"{REPO_ROOT / 'src'}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"}
    argv = [str(KSERVE_PYTHON), "-m", "neuroscale.serving", "--model-name", "summer", "--model-format", "custom",
            "--model-class", "tests.serving.kserve_models:SumModel", "--port", str(port),
            "--grpc-port", str(grpc_port), "--transformer-class", "tests.serving.kserve_models:EchoTransformer"]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready", env=env), \
            httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        v1 = client.post("/v1/models/summer:predict", json={"instances": [[1, 2], [3, 4]]}).json()
        assert v1 == {"predictions": [30, 70], "transformed": True}
        v2 = client.post("/v2/models/summer/infer", json={"id": "k", "inputs": [
            {"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]}).json()
        outputs = {o["name"]: o["data"] for o in v2["outputs"]}
        assert outputs["output-0"] == [30, 70] and outputs["transformed"] == [True] and v2["id"] == "k"
        refused = client.post("/v1/models/summer:predict", json={"instances": [1, 2]})
        assert refused.status_code == 422 and "expected rows of numbers" in refused.json()["error"]
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            request = M["ModelInferRequest"](model_name="summer")
            tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[1, 3])
            tensor.contents.fp64_contents.extend([1.0, 1.0, 1.0])
            answer = call(channel, "ModelInfer", request)
            assert np.frombuffer(answer.raw_output_contents[0], dtype="<f8").tolist() == [30.0]


@pytest.mark.skipif(not KSERVE_PYTHON.exists(), reason=f"kserve venv absent at {KSERVE_PYTHON}: run `make kserve-venv`")
def test_a_kserve_model_that_raises_in_load_is_a_load_failure_with_one_line() -> None:
    env = {"PYTHONPATH": f"{REPO_ROOT / 'src'}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(KSERVE_PYTHON), "-m", "neuroscale.serving", "--model-name", "b", "--model-format",
                             "custom", "--model-class", "tests.serving.kserve_models:BrokenLoad", "--port",
                             str(free_port())], capture_output=True, text=True, timeout=120, env=env, cwd=REPO_ROOT)
    assert result.returncode == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModelLoadFailed: the predictor class raised in load(): RuntimeError: cannot reach the "
                           "feature store") and "fix: " in last
