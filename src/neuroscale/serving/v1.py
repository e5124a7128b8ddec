"""KServe V1 adapter: `{"instances": rows}` -> data plane -> `{"predictions": ...}`.

V1 rows are numeric (FP64); named-column instances (dicts) are refused with a clear message.
"""

from __future__ import annotations

from neuroscale.errors import InvalidInput
from neuroscale.serving.codec import dumps, load_object
from neuroscale.serving.tensors import InferRequest, InferResponse, Tensor, to_array


def decode_predict(body: bytes) -> InferRequest:
    doc = load_object(body)
    try:
        instances = doc["instances"]
    except KeyError:
        raise InvalidInput(
            'missing "instances"', where="request body", fix='send {"instances": [[f1, f2, ...], ...]}'
        ) from None
    rows = to_array(instances, datatype="FP64", shape=None, where="instances")
    return InferRequest(inputs=(Tensor("instances", "FP64", rows),))


def encode_predict(response: InferResponse) -> bytes:
    return dumps({"predictions": response.outputs[0].data})


def encode_model(name: str) -> bytes:
    return dumps({"name": name, "ready": True})


def encode_models(names: list[str]) -> bytes:
    return dumps({"models": names})
