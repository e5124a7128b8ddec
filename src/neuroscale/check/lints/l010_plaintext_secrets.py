"""NS-L010: Kubernetes Secrets committed with their values (FM-34).

A Secret in a GitOps repository is readable by everyone who can read the
repository, forever (git history). Only key names and value lengths are shown.
"""

from __future__ import annotations

from neuroscale.check.lints.base import Lint
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L010"


def check(view: RepoView) -> list[Finding]:
    findings = []
    for doc in view.of_kind("Secret"):
        keys: list[str] = []
        for field in ("data", "stringData"):
            entries = doc.data.get(field)
            if isinstance(entries, dict):
                keys.extend(f"{key} ({len(str(value))} chars)" for key, value in entries.items() if value not in (None, ""))
        if keys:
            findings.append(view.finding(
                doc, rule=ID, severity=Severity.ERROR, needle="data",
                message=f"Secret {doc.name} commits values in plain text: {', '.join(keys)}",
                fix="commit a SealedSecret or ExternalSecret instead, and rotate the exposed values"))
    return findings


LINT = Lint(id=ID, title="Secret values committed in plain text", failure_modes=("FM-34",), severity=Severity.ERROR,
            check=check)
