"""Kyverno-format suites written from Kyverno's documentation, one per feature, run through `policy test`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from neuroscale.cli.main import main
from neuroscale.policy.testrunner import SuiteReport, run_tests
from neuroscale.yamlio import dump, load_one

FIXTURES = Path(__file__).parent / "fixtures" / "kyverno"
FEATURES = sorted(path.name for path in FIXTURES.iterdir() if (path / "kyverno-test.yaml").is_file())


@pytest.fixture(scope="module")
def report() -> SuiteReport:
    return run_tests(FIXTURES)


def test_every_feature_suite_runs_and_holds(report: SuiteReport) -> None:
    assert not report.errors and report.tests == len(FEATURES) >= 9
    wrong = [(c.test, c.policy, c.rule, c.resource, c.expected, c.actual) for c in report.cases if not c.ok]
    assert not wrong
    assert report.exit_code == 0


@pytest.mark.parametrize("feature", FEATURES)
def test_each_suite_asserts_more_than_one_outcome(feature: str, report: SuiteReport) -> None:
    outcomes = Counter(c.actual for c in report.cases if f"/{feature}/" in c.test)
    assert len(outcomes) >= 2, outcomes  # a suite of only passes could not catch a false pass


@pytest.mark.parametrize("feature", FEATURES)
def test_flipped_expectations_are_caught(feature: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every expectation decides the outcome: flipping pass/fail/skip makes the suite fail."""
    suite = tmp_path / feature
    suite.mkdir()
    for file in (FIXTURES / feature).iterdir():
        (suite / file.name).write_text(file.read_text())
    manifest = load_one((suite / "kyverno-test.yaml").read_text())
    flip = {"pass": "fail", "fail": "pass", "skip": "fail"}
    for entry in manifest["results"]:
        entry["result"] = flip[entry["result"]]
    (suite / "kyverno-test.yaml").write_text(dump(manifest))
    code = main(["policy", "test", str(suite), "-o", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["passed"] == 0 and data["failed"] == len(data["results"])
