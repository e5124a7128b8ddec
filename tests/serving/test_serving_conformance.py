"""Conformance: Triton's `tritonclient` (HTTP, gRPC) and the `kserve` package's REST and gRPC clients
against real model-server processes of every format, with the clients' own encodings.

Per format: server live/ready, model ready and metadata, FP32/FP64/INT64 (and BYTES where the model
takes text) inputs as JSON and as binary tensor data, outputs as JSON and as binary, over REST and
gRPC. The kserve SDK runs in its own venv (`kserve_conformance_check.py`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import IRIS_ROWS, REPO_ROOT, free_port, running
from tests.serving.test_serving_formats import onnx_iris  # noqa: F401  (a session fixture)

pytestmark = pytest.mark.e2e
KSERVE_PYTHON = REPO_ROOT / ".venv-kserve" / "bin" / "python"
KSERVE_CHECK = Path(__file__).with_name("kserve_conformance_check.py")
NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "BYTES": np.object_}


@dataclass(frozen=True)
class Case:
    """One request: its input, and the outputs the model must answer (name -> values)."""

    name: str
    datatype: str
    shape: list[int]
    data: list[Any]
    expected: dict[str, list[Any]]

    def array(self) -> np.ndarray:
        if self.datatype == "BYTES":
            return np.array([d.encode() for d in self.data], dtype=np.object_).reshape(self.shape)
        return np.asarray(self.data, dtype=NUMPY[self.datatype]).reshape(self.shape)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape, "data": self.data}


@dataclass(frozen=True)
class Served:
    model: str
    platform: str
    http: str
    grpc: str
    cases: list[Case]


def _tabular_cases(input_name: str, output: str, expected: list[Any]) -> list[Case]:
    flat = [x for row in IRIS_ROWS for x in row]
    return [Case(input_name, datatype, [2, 4], [round(x) for x in flat] if datatype == "INT64" else flat,
                 {output: np.ravel(expected).tolist() if datatype != "INT64" else None})  # INT64 rows differ
            for datatype in ("FP32", "FP64", "INT64")]


@pytest.fixture(scope="module", params=["sklearn", "xgboost", "lightgbm", "onnx", "custom"])
def served(request: pytest.FixtureRequest, iris_model: Path, xgboost_model: Any, lightgbm_model: Any,
           onnx_iris: Path, models_root: Path) -> Iterator[Served]:  # noqa: F811
    fmt = request.param
    extra: tuple[str, ...] = ()
    if fmt == "sklearn":
        uri, cases = str(iris_model), _tabular_cases("input-0", "output-0", [1, 1])
    elif fmt == "xgboost":
        uri, cases = str(xgboost_model.native), _tabular_cases("input-0", "output-0", xgboost_model.native_predictions)
    elif fmt == "lightgbm":
        uri, cases = str(lightgbm_model.native), _tabular_cases("input-0", "output-0",
                                                                lightgbm_model.native_predictions)
    elif fmt == "onnx":
        uri, cases = str(onnx_iris), _tabular_cases("X", "label", [1, 1])
    else:
        uri, extra = "", ("--model-class", "tests.serving.custom_models:Doubler")
        cases = [Case("x", "FP32", [3], [1.5, 2.0, 3.0], {"x-doubled": [3.0, 4.0, 6.0]}),
                 Case("x", "FP64", [2], [0.25, 1.0], {"x-doubled": [0.5, 2.0]}),
                 Case("x", "INT64", [2, 2], [1, 2, 3, 4], {"x-doubled": [2, 4, 6, 8]}),
                 Case("x", "BYTES", [2], ["ab", "c"], {"x-doubled": ["abab", "cc"]})]
    port, grpc_port = free_port(), free_port()
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", f"{fmt}-model", "--model-format", fmt,
            "--storage-uri", uri, "--port", str(port), "--grpc-port", str(grpc_port), "--model-root", str(models_root),
            *extra]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready"):
        yield Served(f"{fmt}-model", fmt, f"127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", cases)


def _check(expected: dict[str, list[Any] | None], got: dict[str, np.ndarray]) -> None:
    for name, values in expected.items():
        assert name in got, f"missing output {name}"
        if values is None:
            assert got[name].size  # an answer of the right name; its values depend on the rounding
        elif got[name].dtype == object:
            assert [v.decode() if isinstance(v, bytes) else v for v in got[name].ravel()] == values
        else:
            assert np.allclose(got[name].ravel(), values, atol=1e-6), (name, got[name], values)


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_tritonclient(served: Served, transport: str) -> None:
    if transport == "http":
        import tritonclient.http as triton
        client = triton.InferenceServerClient(served.http)
    else:
        import tritonclient.grpc as triton  # type: ignore[no-redef]
        client = triton.InferenceServerClient(served.grpc)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(served.model)
    metadata = client.get_model_metadata(served.model)
    name, platform = (metadata["name"], metadata["platform"]) if transport == "http" else (
        metadata.name, metadata.platform)
    assert (name, platform) == (served.model, served.platform)
    for case in served.cases:
        for binary in (False, True):
            tensor = triton.InferInput(case.name, case.shape, case.datatype)
            if transport == "http":
                tensor.set_data_from_numpy(case.array(), binary_data=binary)
                outputs = [triton.InferRequestedOutput(o, binary_data=binary) for o in case.expected]
            else:
                tensor.set_data_from_numpy(case.array())
                outputs = [triton.InferRequestedOutput(o) for o in case.expected]
            result = client.infer(served.model, [tensor], outputs=outputs)
            _check(case.expected, {o: result.as_numpy(o) for o in case.expected})
    client.close()


@pytest.mark.skipif(not KSERVE_PYTHON.exists(), reason=f"kserve venv absent at {KSERVE_PYTHON}: run `make kserve-venv`")
def test_kserve_rest_and_grpc_clients(served: Served) -> None:
    cases = json.dumps([case.as_json() for case in served.cases])
    result = subprocess.run([str(KSERVE_PYTHON), str(KSERVE_CHECK), f"http://{served.http}", served.grpc, served.model,
                             cases], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rest"] == [True, True, True] and report["grpc"] == [True, True, True]
    assert report["grpc_metadata"]["name"] == served.model and report["grpc_metadata"]["platform"] == served.platform
    for case, seen in zip(served.cases, report["cases"], strict=True):
        for how in ("json", "binary", "grpc"):
            _check(case.expected, {name: np.asarray(out["data"], dtype=object if case.datatype == "BYTES" and
                                                    out["datatype"] == "BYTES" else None)
                                   for name, out in seen[how].items()})
