"""`Finding`: one problem found by a policy, a check lint, a schema or a doctor rule.

Every producer speaks this one shape so that CI reports, admission denials and
diagnoses render the same way: what (rule and message), where (file, line,
object, field path) and how to fix it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str = ""
    api_version: str = ""

    def __str__(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{scope}{self.name}"


@dataclass(frozen=True)
class Finding:
    rule: str  # stable id, e.g. "policy/require-labels" or "NS-LINT-007"
    severity: Severity
    message: str
    fix: str = ""
    file: str = ""
    line: int | None = None
    obj: ObjectRef | None = None
    field_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        if not self.file:
            return str(self.obj) if self.obj else ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return {k: v for k, v in data.items() if v not in (None, "", {}, [])}


class HasSeverity(Protocol):
    @property
    def severity(self) -> Severity: ...


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def count(findings: Iterable[HasSeverity], severity: Severity) -> int:
    """How many findings (check, policy or doctor ones) have `severity`."""
    return sum(1 for f in findings if f.severity is severity)


class SeverityCounts:
    """`errors` and `warnings` for a report holding `findings` (a check report, a diagnosis)."""

    findings: Sequence[HasSeverity]

    @property
    def errors(self) -> int:
        return count(self.findings, Severity.ERROR)

    @property
    def warnings(self) -> int:
        return count(self.findings, Severity.WARNING)
