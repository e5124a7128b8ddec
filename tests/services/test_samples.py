"""Sample request files: V1 and V2 bodies per line; a bad line or an oversized file is a finding, not a crash."""

from __future__ import annotations

import json

from neuroscale.findings import Severity
from neuroscale.services.samples import MAX_LINES, read_sample

V1 = {"instances": [[1, 2, 3, 4]]}
V2 = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


def test_v1_and_v2_lines() -> None:
    data = "\n".join([json.dumps(V1), "", json.dumps(V2)]).encode()
    requests, findings = read_sample(data, where="apps/iris/sample-requests.jsonl")
    assert [(r.line, r.protocol) for r in requests] == [(1, "v1"), (3, "v2")] and findings == []


def test_bad_lines_are_findings_naming_the_line() -> None:
    data = b'{"instances": [[1]]}\nnot json\n{"foo": 1}\n\xff\xfe\n'
    requests, findings = read_sample(data, where="s.jsonl")
    assert [r.line for r in requests] == [1]
    assert [(f.line, f.severity) for f in findings] == [(2, Severity.ERROR), (3, Severity.ERROR), (4, Severity.ERROR)]
    assert "line 2 is not JSON" in findings[0].message and findings[0].file == "s.jsonl"


def test_caps_keep_what_fits_and_say_so() -> None:
    data = ("\n".join(json.dumps(V1) for _ in range(MAX_LINES + 5)) + "\n").encode()
    requests, findings = read_sample(data, where="s.jsonl")
    assert len(requests) == MAX_LINES and len(findings) == 1 and findings[0].severity is Severity.WARNING
