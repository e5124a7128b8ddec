"""JSON in and out for both protocol adapters (orjson: the measured hot path)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from neuroscale.errors import InvalidInput

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _fallback(obj: Any) -> Any:
    """Arrays orjson cannot write natively (strings, objects, non-contiguous) go through tolist(); bytes as text."""
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    if isinstance(obj, bytes):  # BYTES elements that arrived as binary data answer as JSON strings
        return obj.decode("utf-8", "replace")
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, default=_fallback, option=_OPTIONS)


def load_object(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"malformed JSON: {exc}", where="request body", fix="send a valid JSON object"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"the body must be a JSON object, got {type(doc).__name__}",
            where="request body",
            fix="wrap the payload in an object, e.g. {\"instances\": [...]}",
        )
    return doc
