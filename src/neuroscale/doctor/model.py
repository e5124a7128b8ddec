"""The doctor's vocabulary: triage categories, rules and findings.

A `DoctorFinding` is a `neuroscale.findings.Finding` plus what a diagnosis
needs on top: the evidence (the exact field, message or log line), the root
cause in one sentence, the triage category, and which other findings it
explains. Categories are ordered so that the first finding printed is the one
to fix first (environment before control plane before workloads...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from neuroscale.findings import Finding, ObjectRef, Severity

if TYPE_CHECKING:
    from neuroscale.doctor.index import SnapshotIndex


class Category(str, Enum):
    """Triage order: fix an earlier category before looking at a later one."""

    ENVIRONMENT = "environment"
    CONTROL_PLANE = "control plane"
    CONTROLLERS = "controllers"
    WEBHOOKS = "webhooks"
    STALE_WEBHOOKS = "stale webhooks"
    APPLICATION_SYNC = "application sync"
    WORKLOADS = "workloads"
    PORTAL = "portal"
    COST = "cost"

    @property
    def rank(self) -> int:
        return list(Category).index(self)


@dataclass(frozen=True)
class DoctorFinding:
    """One diagnosed problem: object, evidence, root cause and fix."""

    rule: str
    severity: Severity
    category: Category
    obj: ObjectRef | None
    message: str
    evidence: str
    root_cause: str
    fix: str
    covers: tuple[str, ...] = ()
    #: Substrings that, found in another finding's evidence, mean this finding explains it.
    explains_when: tuple[str, ...] = ()
    explains: tuple[str, ...] = ()
    explained_by: str = ""
    file: str = ""
    line: int | None = None

    @property
    def key(self) -> str:
        """Stable identity used by correlation: rule plus object (or file)."""
        return f"{self.rule}:{self.obj or self.file or self.message}"

    def with_links(self, *, explains: tuple[str, ...] = (), explained_by: str = "") -> DoctorFinding:
        return replace(self, explains=explains or self.explains, explained_by=explained_by or self.explained_by)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.value,
            "category": self.category.value,
            "object": str(self.obj) if self.obj else "",
            "message": self.message,
            "evidence": self.evidence,
            "root_cause": self.root_cause,
            "fix": self.fix,
            "covers": list(self.covers),
            "explains": list(self.explains),
            "explained_by": self.explained_by,
            "file": self.file,
            "line": self.line,
        }
        return {k: v for k, v in data.items() if v not in (None, "", [])}

    @classmethod
    def from_finding(cls, finding: Finding, *, category: Category, covers: tuple[str, ...] = ()) -> DoctorFinding:
        """Wrap a check-lint finding so static and live diagnoses print the same way."""
        return cls(
            rule=finding.rule,
            severity=finding.severity,
            category=category,
            obj=finding.obj,
            message=finding.message,
            evidence=finding.field_path or finding.location,
            root_cause=finding.message,
            fix=finding.fix,
            covers=covers,
            file=finding.file,
            line=finding.line,
        )


CheckFn = Callable[["SnapshotIndex"], list[DoctorFinding]]


@dataclass(frozen=True)
class Rule:
    """One diagnosis: a pure function from an indexed snapshot to findings."""

    id: str
    title: str
    covers: tuple[str, ...]
    category: Category
    severity: Severity
    check: CheckFn
    targets: tuple[str, ...] = ("cluster",)

    def finding(
        self,
        *,
        obj: ObjectRef | None,
        message: str,
        evidence: str,
        root_cause: str,
        fix: str,
        severity: Severity | None = None,
        category: Category | None = None,
        explains_when: tuple[str, ...] = (),
        covers: tuple[str, ...] = (),
    ) -> DoctorFinding:
        """Build a finding stamped with this rule's id, category, severity and coverage."""
        return DoctorFinding(
            rule=self.id,
            severity=severity or self.severity,
            category=category or self.category,
            obj=obj,
            message=message,
            evidence=evidence,
            root_cause=root_cause,
            fix=fix,
            covers=covers or self.covers,
            explains_when=explains_when,
        )
