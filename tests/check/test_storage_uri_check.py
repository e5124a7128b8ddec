"""`neuroscale check` refuses the storage URIs the strict reader refuses (it used to let them through).

The same manifest got two verdicts: the embedded admission and the pull-request checks refused
`file://../other-team/model`, `neuroscale check` on the repository did not. Now the bundled policy carries
the reader's rules as CEL, so check names the rule, the file and line of the URI, and the reader's fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.spec.storage_uri import storage_uri_problem

from .helpers import isvc, write_repo

POLICY = "neuroscale-storage-uri-scheme"


@pytest.mark.parametrize(("uri", "rule"), [
    ("file://../other-team/model", "storage-uri-file-host"),
    ("pvc://models/../../secrets", "storage-uri-dot-segment"),
    ("/srv/models/%2e%2e/%2E%2e/etc/passwd", "storage-uri-dot-segment"),
    ("pvc://Team_A/model", "storage-uri-pvc-claim"),
    ("file:///srv/models/iris%0a.joblib", "storage-uri-control-character"),
])
def test_check_refuses_what_the_reader_refuses(tmp_path: Path, uri: str, rule: str) -> None:
    manifest = isvc("iris").replace("storageUri: s3://models/iris", f"storageUri: '{uri}'")
    root = write_repo(tmp_path / "repo", {"apps/iris/inference-service.yaml": manifest,
                                          "apps/fine/inference-service.yaml": isvc("fine")})
    report = run_check(root, options=CheckOptions(cache_dir=tmp_path / "cache"))
    [finding] = [f for f in report.findings if f.rule.startswith(f"{POLICY}/storage-uri-")]
    problem = storage_uri_problem(uri)
    assert problem is not None and finding.rule == f"{POLICY}/{problem.rule.name}" == f"{POLICY}/{rule}"
    assert finding.file == "apps/iris/inference-service.yaml" and finding.severity.value == "error"
    lines = manifest.lstrip("\n").splitlines()
    assert lines[finding.line - 1].strip().startswith("storageUri:")
    assert finding.field_path == "spec.predictor.model.storageUri" and finding.fix == problem.fix
