"""Sample requests: what a prediction diff replays, read from a committed file or the gateway's recording.

One request body per line (JSON lines): a KServe V1 body (`{"instances": …}`
or `{"inputs": …}` with V1's `inputs`) or an Open Inference Protocol V2 body
(`{"inputs": [{"name", "shape", "datatype", "data"}, …]}`). A team commits
`apps/<endpoint>/sample-requests.jsonl` beside the manifest; an endpoint that
opts in to recording gets `<home>/samples/<endpoint>.jsonl` from the gateway.
A line that is not such a body is a finding naming the line; a file over the
caps is a finding, and only the lines within the caps are used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from neuroscale.findings import Finding, Severity

SAMPLE_FILE = "sample-requests.jsonl"
MAX_LINES = 1000
MAX_BYTES = 8 << 20
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


def read_sample(data: bytes, *, where: str) -> tuple[list[SampleRequest], list[Finding]]:
    """The usable requests of a sample file and a finding per problem (never an exception)."""
    findings: list[Finding] = []
    if len(data) > MAX_BYTES:
        findings.append(Finding(RULE, Severity.WARNING, f"the sample is {len(data):,} bytes; only the first "
                                f"{MAX_BYTES:,} are used", fix=f"keep the sample under {MAX_BYTES >> 20} MiB",
                                file=where))
        data = data[:MAX_BYTES]
    requests: list[SampleRequest] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(requests) >= MAX_LINES:
            findings.append(Finding(RULE, Severity.WARNING, f"the sample has more than {MAX_LINES} requests; the "
                                    f"rest from line {number} on are not replayed",
                                    fix=f"keep at most {MAX_LINES} requests", file=where, line=number))
            break
        try:
            body = json.loads(raw)
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
