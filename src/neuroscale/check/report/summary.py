"""The one-line verdict every format starts with."""

from __future__ import annotations

from neuroscale.check.model import CheckReport


def verdict(report: CheckReport) -> str:
    if report.unevaluable:
        state = "could not evaluate everything"
    elif report.errors:
        state = "failed"
    else:
        state = "passed"
    scope = f"{report.checked_files} files, {report.checked_objects} objects"
    if report.base:
        scope += f", {len(report.changed_files)} changed since {report.base} ({(report.base_sha or '')[:8]})"
    return f"neuroscale check {state}: {report.errors} error(s), {report.warnings} warning(s) ({scope})"
