"""The shipped GitHub Actions example cannot go falsely green (FM-35): no pipes around the check, exit code kept."""

from __future__ import annotations

import re

from neuroscale import yamlio
from tests.conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / "docs/examples/neuroscale-check.yml"


def test_workflow_runs_check_on_pull_requests_and_fails_on_1_and_2() -> None:
    workflow = yamlio.load_one(WORKFLOW.read_text())
    assert "pull_request" in workflow["on"]  # YAML 1.2: `on` is a string key, not true
    steps = workflow["jobs"]["check"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    check_lines = [line for line in scripts.splitlines() if "neuroscale check" in line and not line.strip().startswith("#")]
    assert check_lines and not any("|" in line.replace("||", "") for line in check_lines)
    assert "| tee" not in scripts
    gate = steps[-1]["run"]
    assert steps[-1]["if"] == "always()" and re.search(r"0\) .*passed", gate) and "exit 1" in gate and "exit 2" in gate
    uses = [step["uses"] for step in steps if "uses" in step]
    assert all(re.search(r"@[0-9a-f]{40}$", ref) for ref in uses)  # actions pinned by commit
