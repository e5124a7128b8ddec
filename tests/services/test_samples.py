"""Sample request files: V1 and V2 bodies per line; a bad line or an oversized file is a finding, not a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale.findings import Severity
from neuroscale.services.samples import MAX_BYTES, MAX_LINES, read_sample

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


@pytest.mark.parametrize(("line", "said"), [
    (b'{"instances": [[NaN, 1]]}', "NaN is not a JSON number"),
    (b'{"instances": [[-Infinity]]}', "-Infinity is not a JSON number"),
    (b'{"instances": [[1e400]]}', "1e400 is beyond what a double holds"),
    (b'{"instances": ' + b"[" * 65 + b"]" * 65 + b"}", "more than 64 deep"),
    (b"[" * 200_000 + b"]" * 200_000, "more than 64 deep"),  # past the parser's own recursion limit
])
def test_lines_no_model_can_be_sent_are_findings_naming_the_line(line: bytes, said: str) -> None:
    requests, findings = read_sample(json.dumps(V1).encode() + b"\n" + line + b"\n", where="s.jsonl")
    assert [r.line for r in requests] == [1]
    [finding] = findings
    assert (finding.line, finding.severity) == (2, Severity.ERROR) and said in finding.message


def test_crlf_bom_blank_lines_and_no_final_newline_are_read() -> None:
    data = b"\xef\xbb\xbf" + json.dumps(V1).encode() + b"\r\n\r\n  \r\n" + json.dumps(V2).encode()
    requests, findings = read_sample(data, where="s.jsonl")
    assert [(r.line, r.protocol) for r in requests] == [(1, "v1"), (4, "v2")] and findings == []


def test_a_line_across_the_byte_cap_is_left_out_whole_and_named() -> None:
    huge = json.dumps({"instances": ["x" * MAX_BYTES]}).encode()
    requests, findings = read_sample(b"\n".join([json.dumps(V1).encode(), huge, json.dumps(V1).encode()]),
                                     where="s.jsonl")
    assert [r.line for r in requests] == [1]
    [finding] = findings
    assert finding.severity is Severity.WARNING and finding.line == 2 and "line 2 on" in finding.message


def test_a_directory_named_like_the_sample_is_a_finding_not_an_absent_sample(tmp_path: Path) -> None:
    from neuroscale.gitops.repo import Author, GitRepo
    from neuroscale.services.prediction_diff import committed_sample

    repo = GitRepo.init_bare(tmp_path / "r.git", files={"apps/iris/sample-requests.jsonl/one.json": b"{}"},
                             author=Author("A", "a@example.com"), message="init")
    found = committed_sample(repo, "main", "iris")
    assert found is not None
    where, requests, [finding] = found
    assert requests == [] and finding.severity is Severity.ERROR and "is a directory" in finding.message
