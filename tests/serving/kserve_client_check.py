"""Call a running NeuroScale model server through KServe's own REST client and print what it saw.

Run with the interpreter of the separate kserve venv (KServe's SDK is a test-only dependency with
tight pins of its own):  .venv-kserve/bin/python kserve_client_check.py BASE_URL MODEL ROWS_JSON
Prints one JSON object; test_serving_kserve_client.py checks it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def check(base_url: str, model: str, rows: list[list[float]]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
    try:
        report["v1_live"] = await v1.is_server_live(base_url)
        report["v1_model_ready"] = await v1.is_model_ready(base_url, model)
        report["v1_predict"] = await v1.infer(base_url, {"instances": rows}, model_name=model)
    finally:
        await v1.close()
    v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    try:
        report["v2_live"] = await v2.is_server_live(base_url)
        report["v2_ready"] = await v2.is_server_ready(base_url)
        report["v2_model_ready"] = await v2.is_model_ready(base_url, model)
        for key, binary in (("v2_infer", False), ("v2_infer_binary", True)):
            tensor = InferInput(name="input-0", shape=[len(rows), len(rows[0])], datatype="FP64")
            tensor.set_data_from_numpy(np.asarray(rows, dtype=np.float64), binary_data=binary)
            request = InferRequest(model_name=model, infer_inputs=[tensor], request_id=key)
            response = await v2.infer(base_url, request, model_name=model)
            output = response.outputs[0]
            report[key] = {
                "model_name": response.model_name,
                "id": response.id,
                "name": output.name,
                "datatype": output.datatype,
                "shape": list(output.shape),
                "data": output.as_numpy().tolist(),
            }
    finally:
        await v2.close()
    return report


if __name__ == "__main__":
    base, name, rows_json = sys.argv[1:4]
    print(json.dumps(asyncio.run(check(base, name, json.loads(rows_json)))))
