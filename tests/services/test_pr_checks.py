"""The pull-request checks: table-driven over manifests, then over a real repository diff."""

from __future__ import annotations

import pytest

from neuroscale.gitops.provider import CheckResult
from neuroscale.services.context import PlatformContext
from neuroscale.services.pr_checks import (
    CHECK_MANIFEST,
    CHECK_POLICIES,
    CHECK_SCHEMA,
    parse_manifest_file,
    describe_failures,
    run_checks,
)
from neuroscale.spec.manifest import manifest_path, render

from .conftest import GIT_AUTHOR, make_spec

GOOD = render(make_spec()).encode()
PATH = manifest_path("demo-iris")


@pytest.mark.parametrize(("path", "content", "field", "needle"), [
    (PATH, GOOD, None, None),
    (PATH, b"key: [oops\n", "", "does not parse"),
    (PATH, b"\xff\xfe", "", "UTF-8"),
    (PATH, b"", "", "empty"),
    (PATH, b"apiVersion: v1\nkind: ConfigMap\n", "", "InferenceService"),
    (PATH, GOOD.replace(b'"100m"', b'"lots"'), "spec.predictor.model.resources.requests.cpu", "quantity"),
    (PATH, GOOD.replace(b'name: "sklearn"', b'name: "tensorflow"'), "spec.predictor.model.modelFormat.name",
     "embedded runtime serves"),
    (manifest_path("other"), GOOD, "metadata.name", "must live at"),
], ids=["good", "broken-yaml", "binary", "empty", "configmap", "bad-quantity", "unserved-format", "wrong-dir"])
def test_manifest_findings(path: str, content: bytes, field: str | None, needle: str | None) -> None:
    _objects, findings = parse_manifest_file(path, content)
    if field is None:
        assert findings == []
        return
    assert findings, "a bad manifest must produce a finding"
    assert all(f.rule == CHECK_MANIFEST and f.file == path and f.fix for f in findings)
    assert any(f.field_path == field and (needle or "") in f.message for f in findings), findings


def test_describe_failures_lists_errors_with_fixes() -> None:
    checks = [
        CheckResult("a", "pass"),
        CheckResult("b", "fail", [
            {"rule": "p/r", "severity": "error", "message": "bad", "fix": "do x", "file": "f", "field_path": "m.l"},
            {"rule": "p/w", "severity": "warning", "message": "meh"},
        ]),
        CheckResult("c", "error"),
    ]
    assert describe_failures(checks) == ["p/r f:m.l: bad (fix: do x)", "c: error"]


def test_run_checks_only_looks_at_changed_manifests(ctx: PlatformContext) -> None:
    base = ctx.repo.resolve("main") or ""
    head = ctx.repo.commit(branch="b", files={PATH: GOOD, "apps/demo-iris/notes.md": b"not yaml",
                                              "docs/x.yaml": b"kind: [broken"}, message="m", author=GIT_AUTHOR)
    results = {c.name: c for c in run_checks(ctx.repo, base=base, head=head)}
    assert results[CHECK_MANIFEST].status == "pass" and not results[CHECK_MANIFEST].findings
    # Like `neuroscale check --base`, the pipeline judges every changed file, not only endpoint manifests.
    assert results[CHECK_SCHEMA].status == "fail"
    assert {f["file"] for f in results[CHECK_SCHEMA].findings if f["severity"] == "error"} == {"docs/x.yaml"}
    assert results[CHECK_POLICIES].status == "pass"
    bad = ctx.repo.commit(branch="b", files={manifest_path("x"): b"kind: [broken", "docs/x.yaml": None},
                          message="m", author=GIT_AUTHOR)
    results = {c.name: c for c in run_checks(ctx.repo, base=base, head=bad)}
    assert results[CHECK_MANIFEST].status == "fail"
    assert {f["file"] for f in results[CHECK_MANIFEST].findings} == {manifest_path("x")}
    gone = ctx.repo.commit(branch="b", files={PATH: None, manifest_path("x"): None}, message="m", author=GIT_AUTHOR)
    assert all(c.passed and not c.findings for c in run_checks(ctx.repo, base=base, head=gone))
