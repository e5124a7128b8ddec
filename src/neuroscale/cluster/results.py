"""PASS/FAIL/SKIP results shared by the cluster and embedded smoke tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Outcome = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class SmokeResult:
    """One check: what was verified, what was seen, and how to recover when it failed."""

    section: str
    name: str
    outcome: Outcome
    detail: str = ""
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def passed(section: str, name: str, detail: str = "") -> SmokeResult:
    return SmokeResult(section, name, "PASS", detail)


def failed(section: str, name: str, detail: str, hint: str) -> SmokeResult:
    return SmokeResult(section, name, "FAIL", detail, hint)


def skipped(section: str, name: str, detail: str, hint: str = "") -> SmokeResult:
    return SmokeResult(section, name, "SKIP", detail, hint)


def exit_code(results: list[SmokeResult]) -> int:
    return 1 if any(r.outcome == "FAIL" for r in results) else 0


def summary(results: list[SmokeResult]) -> dict[str, int]:
    return {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in ("PASS", "FAIL", "SKIP")}
