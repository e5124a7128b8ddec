"""User code the custom-model tests serve: plain classes following KServe's `Model` contract.

Importable as `tests.serving.custom_models:<Class>` by a model server started from the repo root.
`kserve_models.py` holds the same kind of classes written against the real `kserve` package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroscale.serving.tensors import InferRequest, InferResponse, Tensor


class Doubler:
    """A predictor written without kserve: doubles numbers (V1 rows, or every V2 input)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        return payload

    async def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        if isinstance(payload, dict):
            if payload.get("instances") == "explode":
                raise RuntimeError("the model broke")
            return {"predictions": (np.asarray(payload["instances"]) * 2).tolist(),
                    "saw_header": (headers or {}).get("x-trace", "")}
        assert isinstance(payload, InferRequest)
        outputs = tuple(Tensor(f"{t.name}-doubled", t.datatype, t.data * 2) for t in payload.inputs)
        return InferResponse(model_name=self.name, model_version=None, outputs=outputs, id=payload.id)

    def postprocess(self, result: Any, headers: dict[str, str] | None = None) -> Any:
        return result

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": "x", "datatype": "FP64", "shape": [-1]}]


class FailsToLoad:
    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> bool:
        raise FileNotFoundError("weights.bin is missing")


class NeverReady(Doubler):
    def load(self) -> bool:
        return False


class ScaleTransformer:
    """A transformer without kserve: scales iris rows by 10 on the way in, labels the answer on the way out."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = True

    def load(self) -> bool:
        return True

    def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        if isinstance(payload, dict):
            return {"instances": (np.asarray(payload["instances"]) / 10).tolist()}
        tensor = payload.inputs[0]
        return InferRequest(inputs=(Tensor(tensor.name, "FP64", tensor.data / 10),), id=payload.id)

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        raise AssertionError("a chained transformer's predict is never called")

    def postprocess(self, result: Any, headers: dict[str, str] | None = None) -> Any:
        names = ["setosa", "versicolor", "virginica"]
        if isinstance(result, dict):
            return {"predictions": [names[int(i)] for i in result["predictions"]]}
        labels = np.array([names[int(i)] for i in result.outputs[0].data], dtype=object)
        return InferResponse(model_name=result.model_name, model_version=result.model_version,
                             outputs=(Tensor("label", "BYTES", labels),), id=result.id)


class Picky(Doubler):
    """A shadow model for the batching tests: doubles V1 rows, triples those starting with 7, and refuses
    any request holding a negative value (so one bad row fails a whole joined call)."""

    async def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        if isinstance(payload, dict):
            rows = np.asarray(payload["instances"], dtype=float)
            if (rows < 0).any():
                raise ValueError("negative values are not served")
            return {"predictions": (rows * np.where(rows[:, :1] == 7, 3, 2)).tolist()}
        return await super().predict(payload, headers)
