"""The workflow of the generated repository: `neuroscale check` as the merge gate, and on `main`.

The exit status of the check itself decides the job (no `| tee` swallowing
it, FM-35); actions are pinned by commit so a moved tag cannot change the
gate; NeuroScale itself is installed from a git commit (never by a package
name nobody published, which anyone could claim). Pull requests are checked
against their base; pushes to `main` check every file, so an error already on
`main` fails too. The report is posted as one sticky comment only where the
token may write (not on pull requests from forks, whose gate still runs). The
CRDs of the pinned releases are fetched into the runner's temp directory
(outside the checked tree) so custom resources are schema-validated, not
skipped. On pull requests, `neuroscale prediction-diff` then compares what each
changed model answers with what serves now (its model-server loaders are why
NeuroScale is installed with every framework).
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from ruamel.yaml.scalarstring import LiteralScalarString

from neuroscale.platform import versions
from neuroscale.platform.options import PREVIEW_NAMESPACE, InitOptions

WORKFLOW_PATH = ".github/workflows/neuroscale-check.yaml"
#: Named in the generated README too: it is how to fill a local `--crd-dir`.
FETCH_CRDS_STEP = "Fetch the CRDs of the pinned releases"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"  # v4.2.2
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b"  # v5.3.0
REPORT = "neuroscale-check.md"



def _run_check(options: InitOptions) -> str:
    """The check step: the guardrails, then (pull requests) the prediction diff of every changed model.

    The diff runs against the endpoint and its preview where both answer (previews on), else against
    the model files, served on the runner; the worse exit status of the two is the step's.
    """
    endpoints = (f" --serving-url 'http://{{name}}.{{namespace}}.{options.domain}'"
                 f" --preview-url 'http://{{name}}-pr-{{number}}.{PREVIEW_NAMESPACE}.{options.domain}'"
                 ' --pull-request "$PR_NUMBER"') if options.previews else ""
    return f"""if [ "$GITHUB_EVENT_NAME" = "pull_request" ]; then
  scope=(--base "origin/$GITHUB_BASE_REF")
elif [ -n "$BEFORE" ] && [ "$BEFORE" != "0000000000000000000000000000000000000000" ]; then
  scope=(--base "$BEFORE" --all-files)
else
  scope=()
fi
set +e
neuroscale check . "${{scope[@]}}" --crd-dir "$RUNNER_TEMP/crds" --format markdown > {REPORT}
status=$?
if [ "$GITHUB_EVENT_NAME" = "pull_request" ]; then
  neuroscale prediction-diff . --base "origin/$GITHUB_BASE_REF"{endpoints} -o markdown >> {REPORT}
  diff_status=$?
  if [ "$diff_status" -gt "$status" ]; then status=$diff_status; fi
fi
set -e
cat {REPORT} >> "$GITHUB_STEP_SUMMARY"
echo "status=$status" >> "$GITHUB_OUTPUT"
"""

#: Only pull requests from this repository get a token that may comment.
SAME_REPOSITORY = "github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name == github.repository"
_COMMENT = f"""gh pr comment "$PR" --body-file {REPORT} --edit-last || gh pr comment "$PR" --body-file {REPORT}
"""


def _fetch_crds(options: InitOptions) -> str:
    argo = f"https://raw.githubusercontent.com/argoproj/argo-cd/{versions.ARGOCD_VERSION}/manifests/crds"
    lines = ['mkdir -p "$RUNNER_TEMP/crds" && cd "$RUNNER_TEMP/crds"',
             f"curl -fsSL -o kserve.yaml https://github.com/kserve/kserve/releases/download/"
             f"{versions.KSERVE.release}/kserve.yaml",
             f"for crd in application applicationset appproject; do curl -fsSL -o argocd-$crd.yaml {argo}/$crd-crd.yaml; done",
             # The operator's release manifest carries the KnativeServing CRD the serving stack instantiates.
             f"curl -fsSL -o knative-operator.yaml https://github.com/knative/operator/releases/download/"
             f"knative-{versions.KNATIVE_OPERATOR.release}/operator.yaml",
             f"curl -fsSL -o cert-manager.yaml https://github.com/cert-manager/cert-manager/releases/download/"
             f"{versions.CERT_MANAGER.release}/cert-manager.crds.yaml"]
    if options.policy_engine == "kyverno":
        lines.append(f"curl -fsSL -o kyverno.yaml https://github.com/kyverno/kyverno/releases/download/"
                     f"{versions.KYVERNO.release}/install.yaml")
    return "\n".join(lines) + "\n"


def installed_source() -> str:
    """`git+URL@commit` when this NeuroScale was installed from a git commit (PEP 610), else ''."""
    try:
        raw = metadata.distribution("neuroscale").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return ""
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return ""
    vcs = data.get("vcs_info") if isinstance(data, dict) else None
    url = str(data.get("url", "")) if isinstance(data, dict) else ""
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git" or not url.startswith("https://"):
        return ""
    return f"git+{url}@{vcs.get('commit_id', '')}"


def workflow(options: InitOptions) -> dict[str, Any]:
    return {
        "name": "neuroscale check",
        "on": {"pull_request": {"branches": ["main"]}, "push": {"branches": ["main"]}},
        "permissions": {"contents": "read", "pull-requests": "write"},
        "jobs": {"check": {
            "runs-on": "ubuntu-24.04",
            "steps": [
                {"uses": CHECKOUT, "with": {"fetch-depth": 0}},
                {"uses": SETUP_PYTHON, "with": {"python-version": versions.NEUROSCALE_CI_PYTHON}},
                {"name": "Install neuroscale", "run": f"pip install 'neuroscale[all] @ {options.neuroscale_source}'"},
                {"name": FETCH_CRDS_STEP, "run": LiteralScalarString(_fetch_crds(options))},
                {"name": "Run the guardrail checks", "id": "check",
                 "env": {"BEFORE": "${{ github.event.before }}", "PR_NUMBER": "${{ github.event.pull_request.number }}"},
                 "run": LiteralScalarString(_run_check(options))},
                {"name": "Post the report on the pull request", "if": f"always() && {SAME_REPOSITORY}",
                 "env": {"GH_TOKEN": "${{ github.token }}", "PR": "${{ github.event.pull_request.number }}"},
                 "run": LiteralScalarString(_COMMENT)},
                {"name": "Fail when the checks failed", "if": "steps.check.outputs.status != '0'",
                 "run": "echo 'neuroscale check reported errors; see the report above' && exit 1"},
            ],
        }},
    }
