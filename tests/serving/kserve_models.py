"""KServe custom models, written exactly as KServe's docs teach: subclasses of `kserve.Model`.

Imported only by a model server running in the kserve venv (`.venv-kserve`): these classes are
not changed for NeuroScale, which is the point of the test.
"""

from __future__ import annotations

from typing import Dict, Union

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput
from kserve.utils.utils import get_predict_input, get_predict_response


class SumModel(Model):
    """Adds up each row; V1 and V2 through KServe's own helpers."""

    def __init__(self, name: str):
        super().__init__(name)
        self.load()

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(self, payload: Union[Dict, InferRequest], headers: Dict[str, str] = None) -> Union[Dict, InferResponse]:
        rows = np.asarray(get_predict_input(payload))
        if rows.ndim != 2:
            raise InvalidInput("expected rows of numbers")
        sums = rows.sum(axis=1)
        return get_predict_response(payload, sums, self.name)


class EchoTransformer(Model):
    """A transformer that multiplies V2 inputs by 10 and adds an output of its own."""

    def __init__(self, name: str):
        super().__init__(name)
        self.ready = True

    async def preprocess(self, payload: Union[Dict, InferRequest], headers: Dict[str, str] = None):
        if isinstance(payload, InferRequest):
            for item in payload.inputs:
                item.set_data_from_numpy(item.as_numpy() * 10)
            return payload
        return {"instances": (np.asarray(payload["instances"]) * 10).tolist()}

    async def postprocess(self, result: Union[Dict, InferResponse], headers: Dict[str, str] = None,
                          response_headers: Dict[str, str] = None):
        if isinstance(result, InferResponse):
            seen = InferOutput(name="transformed", shape=[1], datatype="BOOL")
            seen.set_data_from_numpy(np.array([True]))
            result.outputs.append(seen)
            return result
        return {"predictions": result["predictions"], "transformed": True}


class BrokenLoad(Model):
    def __init__(self, name: str):
        super().__init__(name)

    def load(self) -> bool:
        raise RuntimeError("cannot reach the feature store")
