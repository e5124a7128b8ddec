"""The data plane through the whole platform: an InferenceService asking for grpc-v2, a batcher and a
transformer class is served by the engine and reached through the gateway's HTTP and gRPC ports
with Triton's own client."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from neuroscale.spec.manifest import manifest_path
from tests.conftest import IRIS_ROWS, free_port
from tests.engine.conftest import Platform, wait_for

pytestmark = pytest.mark.e2e


RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def manifest(name: str, model: Path, *, grpc_v2: bool, transformer: str = "") -> bytes:
    predictor: dict[str, Any] = {
        "minReplicas": 1, "batcher": {"maxBatchSize": 16, "maxLatency": 50},
        "model": {"modelFormat": {"name": "SKLearn", "version": "1"}, "storageUri": str(model), "resources": RESOURCES,
                  **({"protocolVersion": "grpc-v2"} if grpc_v2 else {})}}
    doc: dict[str, Any] = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "default", "labels": {"owner": "team-ml", "cost-center": "cc-1"},
                     "annotations": {"serving.neuroscale.io/transformer-class": transformer} if transformer else {}},
        "spec": {"predictor": predictor}}
    if transformer:
        doc["spec"]["transformer"] = {"containers": [{"name": "kserve-container", "image": "example/labels:1",
                                                      "resources": RESOURCES,
                                                      "securityContext": {"runAsNonRoot": True}}]}
    return json.dumps(doc, indent=2).encode()  # JSON is YAML


@pytest.fixture
def gateway(running: Platform) -> Iterator[tuple[str, str]]:
    grpc_port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "neuroscale.gateway", "--home", str(running.home.root),
                             "--port", str(running.gateway_port), "--grpc-port", str(grpc_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: running.home.routes_applied_file.exists(), what="gateway acknowledges routes")
    yield f"127.0.0.1:{running.gateway_port}", f"127.0.0.1:{grpc_port}"
    proc.terminate()
    proc.wait(timeout=10)


def test_grpc_v2_batcher_and_transformer_through_the_gateway(running: Platform, gateway: tuple[str, str],
                                                             iris_model: Path) -> None:
    import tritonclient.grpc as triton

    http, grpc_address = gateway
    running.commit({manifest_path("labels"): manifest("labels", iris_model, grpc_v2=True,
                                                      transformer="tests.serving.custom_models:ScaleTransformer"),
                    manifest_path("plain"): manifest("plain", iris_model, grpc_v2=False)})
    labels = running.wait_ready("labels")
    running.wait_ready("plain")
    assert not any(c.reason == "FieldsNotHonoured" and "protocolVersion" in c.message for c in labels.conditions)

    tenfold = [[x * 10 for x in row] for row in IRIS_ROWS]
    answer = httpx.post(f"http://{http}/v1/models/labels:predict", json={"instances": tenfold}, timeout=10)
    assert answer.json() == {"predictions": ["versicolor", "versicolor"]}

    client = triton.InferenceServerClient(grpc_address)
    wait_for(lambda: client.is_model_ready("labels") or None, what="labels ready over gRPC")
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_model_metadata("labels").platform == "sklearn"
    tensor = triton.InferInput("input-0", [2, 4], "FP32")
    tensor.set_data_from_numpy(np.asarray(tenfold, dtype=np.float32))
    result = client.infer("labels", [tensor])
    assert [v.decode() for v in result.as_numpy("label")] == ["versicolor", "versicolor"]

    with pytest.raises(Exception) as not_grpc:
        client.infer("plain", [tensor])
    assert "set protocolVersion: grpc-v2" in str(not_grpc.value)
    with pytest.raises(Exception) as unknown:
        client.infer("rose", [tensor])
    assert "no endpoint named 'rose'" in str(unknown.value)
    client.close()
    with grpc.insecure_channel(grpc_address) as channel:  # garbage is refused, not forwarded
        with pytest.raises(grpc.RpcError) as garbage:
            channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")(b"\xff\xff\xff", timeout=5)
        assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
