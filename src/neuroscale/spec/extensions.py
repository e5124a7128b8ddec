"""NeuroScale's own annotations on an InferenceService: recording, shadow traffic, the prediction-diff gate, API keys.

KServe ignores annotations it does not know, so these travel in the same
manifest a cluster runs; the embedded platform acts on them (on a cluster the
gateway's ones do nothing, which `neuroscale check` says: NS-L022). Each is
read here, once, with bounds and a clear error naming the annotation:

| annotation | meaning | default |
| --- | --- | --- |
| `serving.neuroscale.io/record-requests: "true"` | the gateway keeps a rotating sample of live requests (`<home>/samples/<endpoint>.jsonl`) | off |
| `serving.neuroscale.io/record-max-requests` | requests kept | 1000 |
| `serving.neuroscale.io/record-max-bytes` | bytes kept (a quantity: `8Mi`) | 8Mi |
| `serving.neuroscale.io/shadow-percent` | share (0-100) of live requests mirrored to the latest revision when it gets no traffic of its own | 0 |
| `serving.neuroscale.io/prediction-diff-min-agreement` | the `prediction-diff` check fails below this agreement (0-1) | informational only |
| `serving.neuroscale.io/prediction-diff-fail-on-new-errors: "true"` | the check fails when the new model errs where the old one answered | off |
| `serving.neuroscale.io/require-api-key: "true"` | the gateway serves only requests with one of the endpoint's API keys (`neuroscale endpoint key create`) | off |

Kubernetes stores annotations as strings (the API server refuses `100` or
`true` unquoted), so one of these written as a YAML number or boolean is
refused by name, never read as absent (`annotations_of`).

Opting in to API keys is an annotation, not a setting, so turning it on or off
is a pull request that is reviewed like any other change to the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from neuroscale.cost.window import parse_duration
from neuroscale.errors import InvalidInput
from neuroscale.spec.quantity import parse_quantity

PREFIX = "serving.neuroscale.io/"
RECORD = PREFIX + "record-requests"
RECORD_MAX_REQUESTS = PREFIX + "record-max-requests"
RECORD_MAX_BYTES = PREFIX + "record-max-bytes"
RECORD_RETENTION = PREFIX + "record-retention"
SHADOW_PERCENT = PREFIX + "shadow-percent"
MIN_AGREEMENT = PREFIX + "prediction-diff-min-agreement"
FAIL_ON_NEW_ERRORS = PREFIX + "prediction-diff-fail-on-new-errors"
REQUIRE_API_KEY = PREFIX + "require-api-key"
_MAX_RECORDED = 100_000
_MAX_RECORDED_BYTES = 1 << 30


class Recording(BaseModel):
    """How much of an endpoint's live traffic the gateway keeps (newest first out when full)."""

    model_config = ConfigDict(frozen=True)

    max_requests: int = 1000
    max_bytes: int = 8 << 20
    retention_s: float = 7 * 86400  # a recorded request is dropped this long after the gateway kept it


class DiffGate(BaseModel):
    """When the `prediction-diff` check fails rather than only reports."""

    model_config = ConfigDict(frozen=True)

    min_agreement: float | None = None
    fail_on_new_errors: bool = False

    @property
    def gating(self) -> bool:
        return self.min_agreement is not None or self.fail_on_new_errors


def _where(key: str) -> str:
    return f"metadata.annotations[{key}]"


def annotations_of(raw: object) -> Mapping[str, str]:
    """A manifest's `metadata.annotations` as strings; one of ours with another YAML type is InvalidInput."""
    if not isinstance(raw, Mapping):
        return {}
    for key, value in raw.items():
        if isinstance(key, str) and key.startswith(PREFIX) and not isinstance(value, str):
            written = json.dumps(value) if isinstance(value, (bool, int, float)) or value is None else type(value).__name__
            raise InvalidInput(f"{written} is not a string: Kubernetes annotations are strings", where=_where(key),
                               fix=f'quote the value: {key}: "{written if value is not None else ""}"')
    return {key: value for key, value in raw.items() if isinstance(key, str) and isinstance(value, str)}


def _flag(notes: Mapping[str, str], key: str) -> bool:
    value = notes.get(key, "false").strip().lower()
    if value not in ("true", "false"):
        raise InvalidInput(f"{value!r} is not true or false", where=_where(key), fix='write "true" or "false"')
    return value == "true"


def _integer(notes: Mapping[str, str], key: str, *, default: int, low: int, high: int) -> int:
    text = notes.get(key)
    if text is None:
        return default
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= len(str(high)) and low <= int(digits) <= high):
        raise InvalidInput(f"{text!r} is not a whole number from {low} to {high}", where=_where(key),
                           fix=f"write a number from {low} to {high}")
    return int(text)


def recording(notes: Mapping[str, str]) -> Recording | None:
    if not _flag(notes, RECORD):
        return None
    size = notes.get(RECORD_MAX_BYTES)
    max_bytes = Recording().max_bytes
    if size is not None:
        value = int(parse_quantity(size, where=_where(RECORD_MAX_BYTES)))
        if not 1 <= value <= _MAX_RECORDED_BYTES:
            raise InvalidInput(f"{size!r} is outside 1 byte to 1Gi", where=_where(RECORD_MAX_BYTES),
                               fix="write a size such as 8Mi")
        max_bytes = value
    retention = notes.get(RECORD_RETENTION)
    return Recording(max_requests=_integer(notes, RECORD_MAX_REQUESTS, default=1000, low=1, high=_MAX_RECORDED),
                     max_bytes=max_bytes, retention_s=Recording().retention_s if retention is None else
                     parse_duration(retention, where=_where(RECORD_RETENTION)))


def require_api_key(notes: Mapping[str, str]) -> bool:
    return _flag(notes, REQUIRE_API_KEY)


def shadow_percent(notes: Mapping[str, str]) -> int:
    return _integer(notes, SHADOW_PERCENT, default=0, low=0, high=100)


def diff_gate(notes: Mapping[str, str]) -> DiffGate:
    text = notes.get(MIN_AGREEMENT)
    agreement = None
    if text is not None:
        try:
            agreement = float(text)
        except ValueError:
            agreement = -1.0
        if not 0.0 <= agreement <= 1.0:
            raise InvalidInput(f"{text!r} is not an agreement between 0 and 1", where=_where(MIN_AGREEMENT),
                               fix='write a share such as "0.95"')
    return DiffGate(min_agreement=agreement, fail_on_new_errors=_flag(notes, FAIL_ON_NEW_ERRORS))
