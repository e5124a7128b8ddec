"""NS-L015: CI workflows whose guardrail step can be green while violations pass (FM-35, FM-36)."""

from __future__ import annotations

import pytest

from neuroscale.check.lints import l015_ci_false_green

from .helpers import lint

# The reference's shape: kyverno piped into tee, $? read afterwards, one --resource for many files.
REFERENCE_SHAPED = """
name: Guardrails Checks
on: [pull_request]
jobs:
  validate-policies:
    runs-on: ubuntu-latest
    steps:
      - name: Kyverno apply
        run: |
          kyverno apply infrastructure/kyverno/policies/ --resource apps/a.yaml apps/b.yaml | tee out.txt
          echo "exit=$?"
      - name: kubeconform
        run: kubeconform -strict -summary -ignore-missing-schemas apps/
"""


def test_flags_tee_single_resource_and_ignored_schemas() -> None:
    findings = lint(l015_ci_false_green.LINT, {".github/workflows/guardrails.yaml": REFERENCE_SHAPED})
    messages = sorted(f.message for f in findings)
    assert len(findings) == 3
    assert any("tee" in m for m in messages)
    assert any("only the first" in m for m in messages)
    assert any("-ignore-missing-schemas" in m for m in messages)
    lines = {f.line for f in findings}
    assert lines == {9, 12}  # the kyverno line (two findings) and the kubeconform line


@pytest.mark.parametrize("fixed_step", [
    "      - name: Kyverno apply\n        shell: bash\n        run: kyverno apply p/ --resource apps/ | tee out.txt\n",
    "      - name: Kyverno apply\n        run: |\n          set -o pipefail\n"
    "          kyverno apply p/ --resource apps/a.yaml --resource apps/b.yaml | tee out.txt\n",
    "      - name: neuroscale\n        run: neuroscale check . --format markdown --output report.md\n",
])
def test_quiet_for_the_fixed_shapes(fixed_step: str) -> None:
    workflow = "name: ok\non: [pull_request]\njobs:\n  gate:\n    runs-on: ubuntu-latest\n    steps:\n" + fixed_step
    assert lint(l015_ci_false_green.LINT, {".github/workflows/ok.yaml": workflow}) == []


def test_only_workflows_are_read() -> None:
    assert lint(l015_ci_false_green.LINT, {"docs/notes.yaml": REFERENCE_SHAPED}) == []
