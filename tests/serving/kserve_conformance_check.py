"""Drive a running model server with the `kserve` package's REST and gRPC clients; print what they saw.

Run with the kserve venv's interpreter (KServe's SDK has tight pins of its own):
    .venv-kserve/bin/python kserve_conformance_check.py REST_BASE GRPC_ADDRESS MODEL CASES_JSON
CASES_JSON is a list of {"name", "datatype", "shape", "data"} inputs (one request each). Prints one
JSON object; test_serving_conformance.py compares it with what the model must answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.infer_type import RequestedOutput

NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "BYTES": np.object_}


def _outputs(response: Any) -> dict[str, Any]:
    seen = {}
    for output in response.outputs:
        data = output.as_numpy()
        values = [v.decode() if isinstance(v, bytes) else v for v in data.ravel().tolist()]
        seen[output.name] = {"datatype": output.datatype, "shape": list(output.shape), "data": values}
    return seen


def _request(model: str, case: dict[str, Any], *, binary: bool, outputs: list[str]) -> InferRequest:
    tensor = InferInput(name=case["name"], shape=case["shape"], datatype=case["datatype"])
    data = case["data"]
    array = np.array([d.encode() for d in data], dtype=np.object_) if case["datatype"] == "BYTES" else np.asarray(
        data, dtype=NUMPY[case["datatype"]])
    tensor.set_data_from_numpy(array.reshape(case["shape"]), binary_data=binary)
    wanted = [RequestedOutput(name, {"binary_data": True}) for name in outputs] if binary else None
    return InferRequest(model_name=model, infer_inputs=[tensor], request_id=f"{case['datatype']}-{binary}",
                        request_outputs=wanted)


async def check(rest: str, grpc_address: str, model: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    report: dict[str, Any] = {"cases": []}
    metadata = httpx.get(f"{rest}/v2/models/{model}").json()
    output_names = [o["name"] for o in metadata["outputs"]]
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    grpc_client = InferenceGRPCClient(grpc_address, retries=0)
    try:
        report["rest"] = [await client.is_server_live(rest), await client.is_server_ready(rest),
                          await client.is_model_ready(rest, model)]
        report["grpc"] = [await grpc_client.is_server_live(), await grpc_client.is_server_ready(),
                          await grpc_client.is_model_ready(model)]
        meta = await grpc_client._client_stub.ModelMetadata(pb.ModelMetadataRequest(name=model))
        report["grpc_metadata"] = {"name": meta.name, "platform": meta.platform,
                                   "inputs": [[t.name, t.datatype, list(t.shape)] for t in meta.inputs]}
        for case in cases:
            seen = {"json": _outputs(await client.infer(rest, _request(model, case, binary=False, outputs=[]),
                                                         model_name=model)),
                    "binary": _outputs(await client.infer(rest, _request(model, case, binary=True,
                                                                         outputs=output_names), model_name=model)),
                    "grpc": _outputs(await grpc_client.infer(_request(model, case, binary=False, outputs=[])))}
            report["cases"].append(seen)
    finally:
        await client.close()
        await grpc_client.close()
    return report


if __name__ == "__main__":
    rest_base, grpc_target, name, cases_json = sys.argv[1:5]
    print(json.dumps(asyncio.run(check(rest_base, grpc_target, name, json.loads(cases_json)))))
