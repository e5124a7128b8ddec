"""The pull-request workflow of the generated repository: `neuroscale check` as the merge gate.

The exit status of the check itself decides the job (no `| tee` swallowing
it, FM-35), the markdown report is posted as one sticky PR comment, and
actions are pinned by commit so a moved tag cannot change the gate. The CRDs
of the pinned releases are fetched into the runner's temp directory (outside
the checked tree) so custom resources are schema-validated, not skipped.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from ruamel.yaml.scalarstring import LiteralScalarString

from neuroscale.platform import versions
from neuroscale.platform.options import InitOptions

WORKFLOW_PATH = ".github/workflows/neuroscale-check.yaml"
#: Named in the generated README too: it is how to fill a local `--crd-dir`.
FETCH_CRDS_STEP = "Fetch the CRDs of the pinned releases"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"  # v4.2.2
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b"  # v5.3.0
REPORT = "neuroscale-check.md"

_RUN_CHECK = f"""set +e
neuroscale check . --base "origin/${{GITHUB_BASE_REF}}" --crd-dir "$RUNNER_TEMP/crds" --format markdown > {REPORT}
status=$?
set -e
cat {REPORT} >> "$GITHUB_STEP_SUMMARY"
echo "status=$status" >> "$GITHUB_OUTPUT"
"""

_COMMENT = f"""gh pr comment "$PR" --body-file {REPORT} --edit-last || gh pr comment "$PR" --body-file {REPORT}
"""


def _fetch_crds(options: InitOptions) -> str:
    argo = f"https://raw.githubusercontent.com/argoproj/argo-cd/{versions.ARGOCD_VERSION}/manifests/crds"
    lines = ['mkdir -p "$RUNNER_TEMP/crds" && cd "$RUNNER_TEMP/crds"',
             f"curl -fsSL -o kserve.yaml https://github.com/kserve/kserve/releases/download/"
             f"{versions.KSERVE.version}/kserve.yaml",
             f"for crd in application applicationset appproject; do curl -fsSL -o argocd-$crd.yaml {argo}/$crd-crd.yaml; done",
             # The operator's release manifest carries the KnativeServing CRD the serving stack instantiates.
             f"curl -fsSL -o knative-operator.yaml https://github.com/knative/operator/releases/download/"
             f"knative-{versions.KNATIVE_OPERATOR.version}/operator.yaml"]
    if options.policy_engine == "kyverno":
        lines.append(f"curl -fsSL -o kyverno.yaml https://github.com/kyverno/kyverno/releases/download/"
                     f"{versions.KYVERNO_APP_VERSION}/install.yaml")
    return "\n".join(lines) + "\n"


def _neuroscale_version() -> str:
    try:
        return metadata.version("neuroscale")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def workflow(options: InitOptions) -> dict[str, Any]:
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
                {"name": FETCH_CRDS_STEP, "run": LiteralScalarString(_fetch_crds(options))},
                {"name": "Run the guardrail checks", "id": "check", "run": LiteralScalarString(_RUN_CHECK)},
                {"name": "Post the report on the pull request", "if": "always()",
                 "env": {"GH_TOKEN": "${{ github.token }}", "PR": "${{ github.event.pull_request.number }}"},
                 "run": LiteralScalarString(_COMMENT)},
                {"name": "Fail when the checks failed", "if": "steps.check.outputs.status != '0'",
                 "run": "echo 'neuroscale check reported errors; see the report above' && exit 1"},
            ],
        }},
    }
