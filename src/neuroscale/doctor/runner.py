"""Run the rules of one target over one snapshot and return correlated findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.doctor.correlate import correlate
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.doctor.rules import rules_for
from neuroscale.findings import ObjectRef, Severity, SeverityCounts


@dataclass(frozen=True)
class Diagnosis(SeverityCounts):
    """What `doctor` reports: the target, its findings in triage order, and whether it could run."""

    target: str
    findings: list[DoctorFinding]
    rules_run: int
    could_not_run: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.could_not_run:
            return 2
        return 1 if any(f.severity is not Severity.INFO for f in self.findings) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "summary": {"errors": self.errors, "warnings": self.warnings, "findings": len(self.findings),
                        "rules": self.rules_run, "couldNotRun": self.could_not_run},
            "meta": dict(self.meta),
            "findings": [f.to_dict() for f in self.findings],
        }


def diagnose(snapshot: Mapping[str, Any], *, rules: Sequence[Rule] | None = None) -> Diagnosis:
    """Index `snapshot` once, run every applicable rule, correlate."""
    index = SnapshotIndex(snapshot)
    chosen = list(rules) if rules is not None else rules_for(index.target)
    findings: list[DoctorFinding] = []
    failed = False
    for rule in chosen:
        try:
            findings.extend(rule.check(index))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            failed = True  # one rule tripping on an unexpected object must not hide what the others found
            findings.append(_rule_failure(rule, exc))
    meta = {k: v for k, v in index.meta.items() if k in ("target", "context", "server", "takenAt", "home")}
    return Diagnosis(target=index.target, findings=correlate(findings), rules_run=len(chosen),
                     could_not_run=failed or bool(index.meta.get("error")), meta=meta)


def _rule_failure(rule: Rule, exc: Exception) -> DoctorFinding:
    return DoctorFinding(
        rule=rule.id, severity=Severity.ERROR, category=Category.ENVIRONMENT,
        obj=ObjectRef(kind="DoctorRule", name=rule.id),
        message=f"doctor rule {rule.id} could not evaluate this snapshot; its failure modes were not checked",
        evidence=f"{type(exc).__name__}: {exc}",
        root_cause="an object in the snapshot has a shape the rule did not expect",
        fix="report it with the snapshot attached (`neuroscale doctor --save-snapshot bundle.json`)",
        covers=rule.covers,
    )
