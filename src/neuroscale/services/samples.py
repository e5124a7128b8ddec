"""Sample requests: what a prediction diff replays, read from a committed file or the gateway's recording.

One request body per line (JSON lines): a KServe V1 body (`{"instances": …}`
or `{"inputs": …}` with V1's `inputs`) or an Open Inference Protocol V2 body
(`{"inputs": [{"name", "shape", "datatype", "data"}, …]}`). A team commits
`apps/<endpoint>/sample-requests.jsonl` beside the manifest; an endpoint that
opts in to recording gets `<home>/samples/<endpoint>.jsonl` from the gateway.
A line that is not such a body is a finding naming the line — also one JSON
cannot send (NaN, Infinity, a number beyond a double such as 1e400) or one
nested deeper than any model input (`MAX_DEPTH`); a file over the caps is a
finding, and only the whole lines within the caps are used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from neuroscale.findings import Finding, Severity

SAMPLE_FILE = "sample-requests.jsonl"
MAX_LINES = 1000
MAX_BYTES = 8 << 20
MAX_DEPTH = 64  # arrays and objects within one another: a batch of images is 5
RULE = "prediction-diff/sample"

Protocol = Literal["v1", "v2"]


@dataclass(frozen=True)
class SampleRequest:
    line: int
    protocol: Protocol
    body: dict[str, Any]


def protocol_of(body: Any) -> Protocol | None:
    """V2 when `inputs` is a list of named tensors, V1 for `instances` (or V1 `inputs`), else None."""
    if not isinstance(body, dict):
        return None
    inputs = body.get("inputs")
    if isinstance(inputs, list) and inputs and all(isinstance(t, dict) and "data" in t for t in inputs):
        return "v2"
    if "instances" in body or "inputs" in body:
        return "v1"
    return None


class Unsendable(ValueError):
    """JSON Python reads but no request should carry."""


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Unsendable(f"{text} is beyond what a double holds (parsers read it as infinity)")
    return value


def _constant(name: str) -> float:
    raise Unsendable(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def _deeper_than(body: object, limit: int) -> bool:
    """Does `body` nest arrays and objects more than `limit` levels (iteratively: any depth is safe)?"""
    level: list[object] = [body]
    for _ in range(limit + 1):
        level = [child for item in level if isinstance(item, (list, dict))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return True


def _parse(raw: bytes) -> Any:
    try:
        body = json.loads(raw, parse_float=_number, parse_constant=_constant)
    except RecursionError:
        raise Unsendable(f"it nests arrays and objects more than {MAX_DEPTH} deep") from None
    if _deeper_than(body, MAX_DEPTH):
        raise Unsendable(f"it nests arrays and objects more than {MAX_DEPTH} deep")
    return body


def _cut(data: bytes, findings: list[Finding], *, where: str) -> bytes:
    """The whole lines within MAX_BYTES, and a finding naming the first line left out."""
    if len(data) <= MAX_BYTES:
        return data
    kept = data[:data.rfind(b"\n", 0, MAX_BYTES) + 1]
    first = len(kept.splitlines()) + 1
    findings.append(Finding(RULE, Severity.WARNING, f"the sample is {len(data):,} bytes; line {first} on (past the "
                            f"first {MAX_BYTES >> 20} MiB) are not replayed", file=where, line=first,
                            fix=f"keep the sample under {MAX_BYTES >> 20} MiB"))
    return kept


def read_sample(data: bytes, *, where: str) -> tuple[list[SampleRequest], list[Finding]]:
    """The usable requests of a sample file and a finding per problem (never an exception)."""
    findings: list[Finding] = []
    requests: list[SampleRequest] = []
    for number, raw in enumerate(_cut(data, findings, where=where).splitlines(), start=1):
        if not raw.strip():
            continue
        if len(requests) >= MAX_LINES:
            findings.append(Finding(RULE, Severity.WARNING, f"the sample has more than {MAX_LINES} requests; the "
                                    f"rest from line {number} on are not replayed",
                                    fix=f"keep at most {MAX_LINES} requests", file=where, line=number))
            break
        try:
            body = _parse(raw)
        except Unsendable as exc:
            findings.append(Finding(RULE, Severity.ERROR, f"line {number} cannot be replayed: {exc}", file=where,
                                    line=number, fix="write the request as the model's clients send it"))
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            findings.append(Finding(RULE, Severity.ERROR, f"line {number} is not JSON: {exc}", file=where,
                                    line=number, fix="write one JSON request body per line (JSON lines)"))
            continue
        protocol = protocol_of(body)
        if protocol is None:
            findings.append(Finding(RULE, Severity.ERROR, f"line {number} is not a V1 or V2 request body", file=where,
                                    line=number, fix='write {"instances": [...]} (V1) or {"inputs": [{"name": …, '
                                                     '"shape": …, "datatype": …, "data": …}]} (V2)'))
            continue
        requests.append(SampleRequest(number, protocol, body))
    return requests, findings
