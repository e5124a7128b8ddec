"""The OpenAI-compatible embeddings API of an embedding model, as KServe's Hugging Face runtime serves it.

`POST /openai/v1/embeddings` takes `{"model", "input": str | [str, ...], "encoding_format"}` and
answers `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
"usage"}`; `GET /openai/v1/models` lists the one model. Requests go through the same data plane
as V1/V2 (validation, batching), so this is an adapter like the others. Token-id inputs and
`dimensions` are refused with a clear message rather than silently ignored.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from neuroscale.errors import InvalidInput, NotFound
from neuroscale.serving.app import Handler, Headers, Reply
from neuroscale.serving.codec import dumps, load_object
from neuroscale.serving.dataplane import DataPlane
from neuroscale.serving.embeddings import EMBEDDING_OUTPUT, TEXT_INPUT
from neuroscale.serving.tensors import InferRequest, Tensor

_FIX = 'send {"model": "NAME", "input": ["text", ...]}'
MAX_INPUTS = 2048  # OpenAI's own limit per request


def _texts(doc: dict[str, Any]) -> list[str]:
    given = doc.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        kind = "token ids are not accepted" if isinstance(texts, list) and texts else "missing or empty"
        raise InvalidInput(f'"input" {kind}: send a string or a list of strings', where="input", fix=_FIX)
    if len(texts) > MAX_INPUTS:
        raise InvalidInput(f"{len(texts)} inputs is over the limit of {MAX_INPUTS}", where="input",
                           fix="split the texts over several requests")
    return texts


def routes(plane: DataPlane) -> dict[tuple[str, str], Handler]:
    """The OpenAI routes for `plane`, whose model must be an `EmbeddingModel`."""
    count_tokens = getattr(plane.model, "count_tokens", None)

    async def embeddings(body: bytes, _headers: Headers) -> Reply:
        doc = load_object(body)
        model = doc.get("model")
        if model is not None and model != plane.name:
            raise NotFound(f"model {model!r} is not served here", where="model",
                           fix=f"this server serves model {plane.name!r}")
        encoding = doc.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise InvalidInput(f"encoding_format {encoding!r} is not supported", where="encoding_format",
                               fix='use "float" or "base64"')
        if doc.get("dimensions") is not None:
            raise InvalidInput("dimensions cannot be changed for this model", where="dimensions",
                               fix="leave dimensions out")
        texts = _texts(doc)
        array = np.empty(len(texts), dtype=object)
        array[:] = texts
        answer = await plane.infer(InferRequest(inputs=(Tensor(TEXT_INPUT, "BYTES", array),)))
        vectors = next(t.data for t in answer.outputs if t.name == EMBEDDING_OUTPUT)
        tokens = int(count_tokens(texts)) if callable(count_tokens) else 0
        data = [{"object": "embedding", "index": index,
                 "embedding": _encoded(vector, encoding)} for index, vector in enumerate(vectors)]
        return Reply(dumps({"object": "list", "data": data, "model": plane.name,
                            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))

    async def models(_body: bytes, _headers: Headers) -> Reply:
        return Reply(dumps({"object": "list", "data": [
            {"id": plane.name, "object": "model", "created": 0, "owned_by": "neuroscale"}]}))

    return {("POST", "/openai/v1/embeddings"): embeddings, ("GET", "/openai/v1/models"): models}


def _encoded(vector: np.ndarray[Any, Any], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode()
    return vector
