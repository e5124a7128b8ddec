"""Turn service results into the JSON shape of the REST API and the CLI: plain values, camelCase keys.

The REST API and `-o json|yaml` speak the same camelCase as the spec's aliases,
so snake_case keys from dataclasses (`head_sha`, `field_path`) are renamed on
the way out. Only keys that look like Python identifiers are renamed; label
keys such as `cost-center` and free-form keys pass through untouched, and so
does every key inside `labels` and `annotations` (names users chose: a label
`cost_center` stays `cost_center`).
Timestamps are given to the second (`2025-01-31T12:00:00+00:00`): fractions
of a second are noise to a person and differ between the two front ends.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

_USER_KEYS = frozenset({"labels", "annotations"})  # maps whose keys are names users chose
_SNAKE_KEY = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_FRACTION = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)\.\d+")


def whole_seconds(text: str) -> str:
    """An ISO 8601 timestamp without its fraction of a second; other text unchanged."""
    return _FRACTION.sub(r"\1", text, count=1)


def camel_key(key: str) -> str:
    if not _SNAKE_KEY.match(key):
        return key
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def as_plain(obj: Any) -> Any:
    """A JSON-ready copy of `obj` (objects with `to_dict`, dataclasses, pydantic models, containers)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    elif hasattr(obj, "model_dump"):
        obj = obj.model_dump(by_alias=True, exclude_none=True)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return {camel_key(k) if isinstance(k, str) else str(k):
                _verbatim(v) if k in _USER_KEYS and isinstance(v, Mapping) else as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [as_plain(item) for item in obj]
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat(timespec="seconds")
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, str):
        return whole_seconds(obj) if obj[:1].isdigit() else obj
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _verbatim(names: Mapping[Any, Any]) -> dict[str, Any]:
    """A map of user-chosen names: keys kept as written, values made plain."""
    return {str(k): as_plain(v) for k, v in names.items()}
