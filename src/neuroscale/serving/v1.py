"""KServe V1 adapter: `{"instances": rows}` -> data plane -> `{"predictions": ...}`.

V1 instances are numbers (read as FP64 rows) or strings (BYTES, e.g. texts for an embedding
model); named-column instances (dicts) are refused with a clear message. The answer holds the
model's first output.
"""

from __future__ import annotations

from neuroscale.serving.codec import dumps, load_object
from neuroscale.serving.tensors import InferRequest, InferResponse, instances_request


def decode_predict(body: bytes) -> InferRequest:
    return instances_request(load_object(body))


def encode_predict(response: InferResponse) -> bytes:
    return dumps({"predictions": response.outputs[0].data})


def encode_model(name: str, *, ready: bool = True) -> bytes:
    return dumps({"name": name, "ready": ready})


def encode_models(names: list[str]) -> bytes:
    return dumps({"models": names})
