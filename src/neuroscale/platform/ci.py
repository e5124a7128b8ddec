"""The pull-request workflow of the generated repository: `neuroscale check` as the merge gate.

The exit status of the check itself decides the job (no `| tee` swallowing
it, FM-35), the markdown report is posted as one sticky PR comment, and
actions are pinned by commit so a moved tag cannot change the gate.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from neuroscale.platform import versions

WORKFLOW_PATH = ".github/workflows/neuroscale-check.yaml"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"  # v4.2.2
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b"  # v5.3.0
REPORT = "neuroscale-check.md"

_RUN_CHECK = f"""set +e
neuroscale check . --base "origin/${{GITHUB_BASE_REF}}" --format markdown > {REPORT}
status=$?
set -e
cat {REPORT} >> "$GITHUB_STEP_SUMMARY"
echo "status=$status" >> "$GITHUB_OUTPUT"
"""

_COMMENT = f"""printf '<!-- neuroscale-check -->\\n' | cat - {REPORT} > comment.md
gh pr comment "$PR" --body-file comment.md --edit-last || gh pr comment "$PR" --body-file comment.md
"""


def _neuroscale_version() -> str:
    try:
        return metadata.version("neuroscale")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def workflow() -> dict[str, Any]:
    return {
        "name": "neuroscale check",
        "on": {"pull_request": {"branches": ["main"]}},
        "permissions": {"contents": "read", "pull-requests": "write"},
        "jobs": {"check": {
            "runs-on": "ubuntu-24.04",
            "steps": [
                {"uses": CHECKOUT, "with": {"fetch-depth": 0}},
                {"uses": SETUP_PYTHON, "with": {"python-version": versions.NEUROSCALE_CI_PYTHON}},
                {"name": "Install neuroscale", "run": f"pip install 'neuroscale=={_neuroscale_version()}'"},
                {"name": "Run the guardrail checks", "id": "check", "run": _RUN_CHECK},
                {"name": "Post the report on the pull request", "if": "always()",
                 "env": {"GH_TOKEN": "${{ github.token }}", "PR": "${{ github.event.pull_request.number }}"},
                 "run": _COMMENT},
                {"name": "Fail when the checks failed", "if": "steps.check.outputs.status != '0'",
                 "run": "echo 'neuroscale check reported errors; see the report above' && exit 1"},
            ],
        }},
    }
