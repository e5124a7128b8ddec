"""FM-37: `main` of the GitOps repository can be changed without the guardrail checks.

The reference protected `main` but let administrators bypass it, so "unsafe
workloads became impossible to merge" held for everyone but the people most
likely to hot-fix. Judged from the branch-protection facts the snapshot read
from the GitHub API (embedded target, when a GitHub remote and token are set).
"""

from __future__ import annotations

from typing import Any

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

GUARDRAIL_CHECK_HINT = "neuroscale"


def _settings_url(facts: dict[str, Any]) -> str:
    return f"https://github.com/{facts.get('repository')}/settings/branches"


def _api_fix(facts: dict[str, Any], body: str) -> str:
    return (f"gh api -X PUT repos/{facts.get('repository')}/branches/{facts.get('branch')}/protection "
            f"--input - <<'EOF'\n{body}\nEOF\n# or in the UI: {_settings_url(facts)}")


PROTECTION = ('{"required_status_checks": {"strict": true, "contexts": ["neuroscale check"]},\n'
              ' "enforce_admins": true,\n'
              ' "required_pull_request_reviews": {"required_approving_review_count": 1},\n'
              ' "restrictions": null}')


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    facts = (index.host.get("github") or {}).get("branch_protection")
    if not isinstance(facts, dict):
        return []
    obj = ObjectRef(kind="GitHubBranch", name=f"{facts.get('repository')}@{facts.get('branch')}")
    if facts.get("error"):
        return [RULE.finding(
            obj=obj, severity=Severity.WARNING, message="branch protection of main could not be read",
            evidence=str(facts["error"]), root_cause="without reading it nobody can tell whether PR-only GitOps "
            "holds; the token may lack admin read access to the repository",
            fix="give the token `Administration: read` (fine-grained) or `repo` scope, then rerun `neuroscale doctor`")]
    if not facts.get("protected"):
        return [RULE.finding(
            obj=obj, message=f"main of {facts.get('repository')} is not protected",
            evidence="GET /repos/{repo}/branches/main → protected: false",
            root_cause="anyone with write access can push to main directly, skipping every guardrail check",
            fix=_api_fix(facts, PROTECTION))]
    found = []
    if not facts.get("enforce_admins"):
        found.append(RULE.finding(
            obj=obj, message="administrators can bypass the protection of main",
            evidence="branch protection: enforce_admins.enabled = false",
            root_cause="an admin merge or push skips the required checks, so a non-compliant manifest can reach "
            "main (admission still refuses it, but the PR-only promise is broken)",
            fix=f"gh api -X POST repos/{facts.get('repository')}/branches/{facts.get('branch')}"
                "/protection/enforce_admins"))
    checks = [str(c) for c in facts.get("required_checks") or []]
    if not any(GUARDRAIL_CHECK_HINT in c.lower() for c in checks):
        found.append(RULE.finding(
            obj=obj, message="the guardrail check is not a required status check on main",
            evidence=f"branch protection: required_status_checks.contexts = {checks}",
            root_cause="a pull request whose `neuroscale check` job failed can still be merged",
            fix=_api_fix(facts, PROTECTION)))
    return found


RULE = Rule(
    id="branch-protection", title="PR-only GitOps enforced on main", covers=("FM-37",),
    category=Category.ENVIRONMENT, severity=Severity.WARNING, check=check, targets=("embedded",),
)
