"""`doctor --repo`: the static half of a diagnosis is exactly `neuroscale check`'s lints.

Static failure modes are not written twice: the repository is read and parsed
the way `check` does it, the check lint registry runs over it, and each lint
finding is wrapped as a doctor finding whose triage category follows the
failure modes the lint prevents.
"""

from __future__ import annotations

from pathlib import Path

from neuroscale.check.lints import ALL_LINTS, LINTS_BY_ID, run_lints
from neuroscale.check.loader import build_view, read_tree
from neuroscale.check.model import Limits
from neuroscale.doctor.coverage import category_of_failure_modes
from neuroscale.doctor.correlate import correlate
from neuroscale.doctor.model import Category, DoctorFinding
from neuroscale.doctor.runner import Diagnosis


def diagnose_repo(path: Path) -> Diagnosis:
    limits = Limits()
    files, problems = read_tree(path, limits=limits)
    view, parse_findings = build_view(files, limits=limits)
    findings = []
    for finding in [*problems, *parse_findings, *run_lints(view)]:
        lint = LINTS_BY_ID.get(finding.rule)
        modes = lint.failure_modes if lint else ()
        category = category_of_failure_modes(modes) if modes else Category.APPLICATION_SYNC
        findings.append(DoctorFinding.from_finding(finding, category=category, covers=modes))
    return Diagnosis(target="repo", findings=correlate(findings), rules_run=len(ALL_LINTS),
                     meta={"target": "repo", "path": str(path)})
