"""One object that cannot be evaluated is a finding on that object; every other object is still checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from neuroscale.check.jsonshape import json_shape
from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check

from .helpers import GOVERNS_DEFAULT, deployment, write_repo

Run = Callable[..., tuple[int, str, str]]

UNLABELLED = deployment("plain").replace("    cost-center: cc-1\n", "")


@pytest.mark.parametrize(("snippet", "needle"), [
    ("  annotations:\n    1: numeric-key\n", "mapping key 1 (int)"),
    ("  annotations:\n    1.5: float-key\n", "mapping key 1.5 (float)"),
    ("  annotations:\n    ? [a, b]\n    : complex-key\n", "mapping key"),
    ("  annotations: !!set {a, b}\n", "YAML set"),
], ids=["int-key", "float-key", "complex-key", "yaml-set"])
def test_an_object_the_engine_cannot_take_is_a_finding_on_it_alone(tmp_path: Path, run_cli: Run,
                                                                   snippet: str, needle: str) -> None:
    odd = deployment("odd").replace("  labels:\n", snippet + "  labels:\n", 1)
    root = write_repo(tmp_path, {"apps/odd.yaml": odd, "apps/plain.yaml": UNLABELLED, **GOVERNS_DEFAULT})
    report = run_check(root, options=CheckOptions())
    [bad] = [f for f in report.findings if f.rule == "NS-E001"]
    assert bad.file == "apps/odd.yaml" and needle in bad.message and bad.obj and bad.obj.name == "odd"
    # The other object was still admitted: its missing label is found, and the run is a failure, not a crash.
    assert any(f.rule.startswith("neuroscale-require-labels") and f.file == "apps/plain.yaml" for f in report.findings)
    assert report.exit_code == 1
    code, out, err = run_cli(str(root))
    assert code == 1 and "crashed" not in err and "NS-E001" in out


def test_unquoted_dates_are_strings_as_kubernetes_reads_them(tmp_path: Path) -> None:
    config_map = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: release, namespace: default, annotations: {released: 2024-05-01}}
    data:
      day: 2024-05-01
      at: 2024-05-01T10:00:00Z
    """
    root = write_repo(tmp_path, {"apps/release.yaml": config_map})
    report = run_check(root, options=CheckOptions())
    assert [f.rule for f in report.findings] == [] and report.exit_code == 0


def test_json_shape_walks_only_what_orjson_rejects() -> None:
    plain = {"a": [1, {"b": "c"}]}
    assert json_shape(plain) == (plain, None) and json_shape(plain)[0] is plain
    import datetime

    assert json_shape({"d": [datetime.date(2024, 1, 2)]}) == ({"d": ["2024-01-02"]}, None)
    data, problem = json_shape({"spec": {"ports": {80: "http"}}})
    assert problem is not None and problem[0] == "spec.ports" and "80" in problem[1]


def test_an_unparseable_file_does_not_stop_the_others(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"apps/broken.yaml": "kind: [unclosed\n", "apps/plain.yaml": UNLABELLED,
                                 **GOVERNS_DEFAULT})
    report = run_check(root, options=CheckOptions())
    assert {f.rule for f in report.findings if f.file == "apps/broken.yaml"} == {"NS-P001"}
    assert any(f.file == "apps/plain.yaml" and f.rule.startswith("neuroscale-require-labels") for f in report.findings)
    assert report.exit_code == 1


def test_a_lint_that_crashes_is_reported_and_the_rest_still_runs(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from neuroscale.check import lints
    from neuroscale.check.lints.base import Lint
    from neuroscale.findings import Severity

    def explode(view: object) -> list[object]:
        raise KeyError("boom")

    broken = Lint(id="NS-L999", title="broken", failure_modes=(), severity=Severity.ERROR, check=explode)  # type: ignore[arg-type]
    monkeypatch.setattr(lints, "ALL_LINTS", (broken, *lints.ALL_LINTS))
    root = write_repo(tmp_path, {"apps/web.yaml": deployment("web", image="nginx:latest")})
    report = run_check(root, options=CheckOptions())
    [crash] = [f for f in report.findings if f.rule == "check/unevaluable"]
    assert "NS-L999" in crash.message and "KeyError" in crash.message
    assert any(f.rule == "NS-L003" for f in report.findings) and report.exit_code == 2


def test_a_broken_document_does_not_hide_the_other_documents_of_its_file(tmp_path: Path) -> None:
    text = UNLABELLED.lstrip("\n") + "---\nkind: [unclosed\n---\n" + deployment("second").lstrip("\n").replace(
        "    cost-center: cc-1\n", "")
    root = write_repo(tmp_path, {"apps/all.yaml": text, **GOVERNS_DEFAULT})
    report = run_check(root, options=CheckOptions())
    [broken] = [f for f in report.findings if f.rule == "NS-P001"]
    lines = text.splitlines()
    assert broken.file == "apps/all.yaml" and lines.index("kind: [unclosed") + 1 <= (broken.line or 0) <= len(lines)
    unlabelled = {f.obj.name for f in report.findings if f.rule.startswith("neuroscale-require-labels") and f.obj}
    assert unlabelled == {"plain", "second"}  # both good documents were still admitted
    [second] = [f for f in report.findings if f.rule.startswith("neuroscale-require-labels") and f.obj
                and f.obj.name == "second"]
    assert (second.line or 0) > lines.index("kind: [unclosed")  # lines are the file's, not the document's
