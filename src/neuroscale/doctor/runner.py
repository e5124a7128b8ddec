"""Run the rules of one target over one snapshot and return correlated findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.doctor.correlate import correlate
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import DoctorFinding, Rule
from neuroscale.doctor.rules import rules_for
from neuroscale.errors import ToolError
from neuroscale.findings import Severity


@dataclass(frozen=True)
class Diagnosis:
    """What `doctor` reports: the target, its findings in triage order, and whether it could run."""

    target: str
    findings: list[DoctorFinding]
    rules_run: int
    could_not_run: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

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
    for rule in chosen:
        try:
            findings.extend(rule.check(index))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ToolError(f"doctor rule {rule.id} failed on this snapshot: {exc!r}", where=rule.id,
                            fix="report this with the snapshot (--save-snapshot)") from exc
    meta = {k: v for k, v in index.meta.items() if k in ("target", "context", "server", "takenAt", "home")}
    return Diagnosis(target=index.target, findings=correlate(findings), rules_run=len(chosen),
                     could_not_run=bool(index.meta.get("error")), meta=meta)
