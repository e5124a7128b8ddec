"""NS-L015: CI steps that can go green while violations pass (FM-35, FM-36).

The reference's guardrail job piped `kyverno apply` into `tee` and read `$?`
(the exit code of `tee`), passed many manifests after a single `--resource`
flag (only the first was evaluated), and ran kubeconform with
`-ignore-missing-schemas` (every custom resource skipped). Each looked green
for weeks. This lint reads GitHub Actions workflows and flags those shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from neuroscale.check.lints.base import Lint
from neuroscale.check.lints.workflows import steps, workflows
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L015"
GATES = re.compile(r"\b(kyverno|kubeconform|kubeval|neuroscale\s+check|conftest|checkov|kube-linter)\b")
PIPE_TO_TEE = re.compile(r"\|\s*tee\b")
PIPEFAIL = re.compile(r"set\s+-[a-z]*o\s+pipefail|set\s+-o\s+pipefail|PIPESTATUS")
SINGLE_RESOURCE = re.compile(r"--resource(?:=|\s+)\S+(?:\s+[^\s|;&<>-]\S*\.ya?ml)+")
GLOB_RESOURCE = re.compile(r"--resource(?:=|\s+)\S*[*?]")
IGNORE_MISSING = re.compile(r"-ignore-missing-schemas\b")


def _has_pipefail(script: str, shell: str) -> bool:
    """GitHub runs an explicit `shell: bash` as `bash -eo pipefail`; the implicit default has no pipefail."""
    return shell.strip() == "bash" or bool(PIPEFAIL.search(script + " " + shell))


def _problems(script: str, shell: str) -> Iterator[tuple[str, str, str]]:
    """(needle, message, fix) for each false-green shape in one script."""
    for line in script.splitlines():
        if GATES.search(line) and PIPE_TO_TEE.search(line) and not _has_pipefail(script, shell):
            yield ("tee", "pipes a guardrail into `tee` without pipefail: the step's status is tee's, "
                   "so violations exit 0",
                   "add `set -o pipefail` (or read `${PIPESTATUS[0]}`), or write the report with the tool's "
                   "own output option instead of `tee`")
        if "kyverno" in line and (SINGLE_RESOURCE.search(line) or GLOB_RESOURCE.search(line)):
            yield ("--resource", "passes several manifests to one `--resource` flag: kyverno evaluates only "
                   "the first and ignores the rest",
                   "repeat `--resource` once per file, or pass a directory (`--resource apps/`)")
        if IGNORE_MISSING.search(line):
            yield ("-ignore-missing-schemas", "`-ignore-missing-schemas` skips every custom resource "
                   "(InferenceService, Application, ClusterPolicy) silently",
                   "give the CRD schemas with `-schema-location`, or use `neuroscale check`, which reports "
                   "objects it cannot validate")


def check(view: RepoView) -> list[Finding]:
    findings = []
    for doc in workflows(view):
        for step in steps(doc):
            for needle, message, fix in _problems(step.script, step.shell):
                findings.append(view.finding(
                    doc, rule=ID, severity=Severity.ERROR, needle=needle, field_path=f"jobs.{step.job}",
                    message=f"{step.label}: {message}", fix=fix))
    return findings


LINT = Lint(id=ID, title="CI guardrail steps that can pass while violations pass", failure_modes=("FM-35", "FM-36"),
            severity=Severity.ERROR, check=check)
