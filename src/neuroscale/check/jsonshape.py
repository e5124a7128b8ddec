"""Kubernetes reads YAML as JSON: what a parsed document means once it reaches the API server.

The YAML 1.1 loader turns an unquoted `2024-01-01` into a date, which the
API server (sigs.k8s.io/yaml) keeps as the string it was written as; every
stage must see the string. A mapping key that is not a string (`1:`, `1.5:`,
`? [a, b]`) or a YAML set cannot be represented at all: `json_shape` names the
field, so a stage reports that one object instead of failing the whole run.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson

#: (field path, why, text of the line to point at)
ShapeProblem = tuple[str, str, str]


def json_shape(data: Any) -> tuple[Any, ShapeProblem | None]:
    """(`data` with dates as strings, or `data` unchanged and why it has no JSON shape).

    Fast path: orjson serialises exactly the JSON shapes (string keys, 64-bit integers) in C and hands
    dates to `default`; only a document that fails it is walked in Python.
    """
    try:
        orjson.dumps(data, default=_reject, option=orjson.OPT_PASSTHROUGH_DATETIME)
        return data, None
    except TypeError:
        return _walk(data, "")


def _reject(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def _walk(value: Any, path: str) -> tuple[Any, ShapeProblem | None]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if not isinstance(key, str):
                return value, (path, f"mapping key {key!r} ({type(key).__name__}) at {path or '(root)'} is not a "
                                     "string", f"{key}:")
            converted, problem = _walk(sub, f"{path}.{key}" if path else key)
            if problem:
                return value, problem
            out[key] = converted
        return out, None
    if isinstance(value, list):
        items = []
        for index, sub in enumerate(value):
            converted, problem = _walk(sub, f"{path}[{index}]")
            if problem:
                return value, problem
            items.append(converted)
        return items, None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat(), None
    if value is None or isinstance(value, (str, bool, int, float, bytes)):
        return value, None
    return value, (path, f"value at {path or '(root)'} is a YAML {type(value).__name__}, which a Kubernetes "
                         "object cannot hold", path.rsplit(".", 1)[-1] + ":")
