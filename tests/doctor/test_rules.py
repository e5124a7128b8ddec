"""Every documented failure, rebuilt from its symptoms, makes its rule fire; the healthy cluster fires none."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from neuroscale.doctor.coverage import (
    CATALOG,
    CROSS_TOOL,
    PREVENTED_BY_DESIGN,
    REPO_ROOT,
    UNDETECTABLE,
    catalog,
    coverage_table,
)
from neuroscale.doctor.model import Category
from neuroscale.doctor.rules import ALL_RULES, rules_for
from neuroscale.doctor.runner import diagnose
from neuroscale.findings import Severity
from tests.doctor.snapshots import CASES, apply_case, healthy, load_case

#: Rules that only apply to the embedded target; their failing states are built for real in test_embedded.py.
EMBEDDED_TESTED = {"port-taken", "disk-space", "platform-process", "git-remote", "model-server-crash", "github-token",
                   "reconciler-heartbeat", "routes-stale",
                   "branch-protection",
                   "endpoint-not-deployed", "model-file-changed"}
#: Failure modes whose failing state lives in another case file (same rule, same signal).
SHARED_CASE = {"FM-26": "FM-25", "FM-03": "embedded", "FM-12": "embedded", "FM-13": "embedded", "FM-37": "embedded"}


def test_healthy_cluster_fires_no_rule() -> None:
    diagnosis = diagnose(healthy())
    assert diagnosis.findings == []
    assert diagnosis.exit_code == 0
    assert diagnosis.rules_run == len(rules_for("cluster"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_failure_case_fires_exactly_its_rules(path: Path) -> None:
    case = load_case(path)
    diagnosis = diagnose(apply_case(healthy(), case))
    fired = {f.rule for f in diagnosis.findings}
    assert fired == set(case["expect"]), case["description"]
    for finding in diagnosis.findings:
        assert finding.evidence and finding.root_cause and finding.fix, finding
    if case.get("severity"):
        assert {f.severity.value for f in diagnosis.findings} == {case["severity"]}
        assert diagnosis.exit_code == 0
    for cause_rule, effect_rules in case.get("explains", {}).items():
        cause = next(f for f in diagnosis.findings if f.rule == cause_rule and f.explains)
        explained = {k.split(":", 1)[0] for k in cause.explains}
        assert set(effect_rules) <= explained, (cause_rule, cause.explains)
        effects = [f for f in diagnosis.findings if f.key in cause.explains]
        assert all(f.explained_by == cause.key for f in effects)


def test_findings_print_in_triage_order() -> None:
    case = load_case(next(p for p in CASES if p.stem == "FM-16"))
    findings = diagnose(apply_case(healthy(), case)).findings
    ranks = [f.category.rank for f in findings]
    assert ranks == sorted(ranks)
    assert findings[0].category is Category.CONTROLLERS  # the pulled image comes before the webhook and the app
    assert findings[-1].category is Category.APPLICATION_SYNC


def test_unreachable_cluster_is_a_finding_and_exit_2() -> None:
    case = load_case(next(p for p in CASES if p.stem == "FM-14"))
    diagnosis = diagnose(apply_case(healthy(), case))
    assert [f.rule for f in diagnosis.findings] == ["cluster-access"]
    assert "k3d cluster start neuroscale" in diagnosis.findings[0].fix
    assert diagnosis.exit_code == 2


def test_pod_inside_its_startup_budget_is_starting_not_failing() -> None:
    snap = healthy()
    pod = next(p for p in snap["objects"]["Pod"] if p["metadata"]["namespace"] == "backstage")
    status = pod["status"]["containerStatuses"][0]
    status.update({"ready": False, "restartCount": 1})
    pod["status"]["conditions"][1]["status"] = "False"
    pod["status"]["startTime"] = "2026-05-20T08:58:00Z"  # 60 s before the snapshot; budget is 120 + 30 x 10 s
    assert diagnose(snap).findings == []
    late = copy.deepcopy(snap)
    next(p for p in late["objects"]["Pod"] if p["metadata"]["namespace"] == "backstage")["status"]["startTime"] = \
        "2026-05-20T08:40:00Z"
    [finding] = diagnose(late).findings
    assert finding.rule == "crash-loop" and finding.severity is Severity.WARNING
    assert "startup budget 420s" in finding.message


def test_a_rule_tripping_on_odd_objects_is_reported_not_raised() -> None:
    snap = healthy()
    snap["objects"]["Application"][0]["status"]["resources"] = [None]  # an object shape no rule expects
    diagnosis = diagnose(snap)
    broken = [f for f in diagnosis.findings if f.obj is not None and f.obj.kind == "DoctorRule"]
    assert broken and all(f.severity is Severity.ERROR for f in broken)
    assert diagnosis.exit_code == 2


def test_every_cluster_rule_has_a_failing_case() -> None:
    expected = {rule for p in CASES for rule in load_case(p)["expect"]}
    for rule in ALL_RULES:
        assert rule.id in expected or rule.id in EMBEDDED_TESTED, f"rule {rule.id} has no failing-state test"


def test_every_catalogued_failure_mode_is_accounted_for() -> None:
    table = {row.failure_mode: row for row in coverage_table()}
    assert set(table) == set(catalog()) | set(CROSS_TOOL) and set(CATALOG) <= set(table)
    case_ids = {p.stem for p in CASES}
    for fm, row in table.items():
        assert row.covered or fm in PREVENTED_BY_DESIGN or fm in UNDETECTABLE, fm
        if row.rules:
            assert fm in case_ids or fm in SHARED_CASE, f"{fm} has rules {row.rules} but no failing case"
    covered = [fm for fm in CATALOG if table[fm].covered]
    assert len(covered) >= 39


def test_every_catalogued_failure_mode_links_to_its_entry_for_users() -> None:
    """Issue 10 item 7: the catalogue ships in the repository, one entry per id, in one layout."""
    sections = ["## Symptom", "## Cause", "## How NeuroScale prevents or detects it", "## Fix"]
    for row in coverage_table():
        if row.failure_mode in CROSS_TOOL:
            assert row.doc == ""
            continue
        entry = REPO_ROOT / row.doc
        assert row.doc == f"docs/failure-modes/{row.failure_mode}.md" and entry.is_file(), row.failure_mode
        text = entry.read_text()
        assert text.startswith(f"# {row.failure_mode}: "), row.failure_mode
        positions = [text.find(section) for section in sections]
        assert -1 not in positions and positions == sorted(positions), (row.failure_mode, positions)
        for rule in row.rules:  # what the entry says detects it is what the registry says
            assert f"**{rule}**" in text, (row.failure_mode, rule)
