"""Markdown report: ready to post as a sticky pull-request comment or a job summary."""

from __future__ import annotations

from neuroscale.check.model import CheckReport
from neuroscale.check.report.summary import verdict
from neuroscale.cost import render_markdown as cost_markdown
from neuroscale.findings import Severity

#: First line of every comment, so a workflow can find and update its previous one.
MARKER = "<!-- neuroscale-check -->"
MAX_ROWS = 200
_ICON = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: CheckReport) -> str:
    icon = "⛔" if report.unevaluable else "❌" if report.errors else "✅"
    lines = [MARKER, f"### {icon} {cell(verdict(report))}", ""]
    if report.findings:
        lines += ["| | location | rule | message | fix |", "| --- | --- | --- | --- | --- |"]
        for finding in report.findings[:MAX_ROWS]:
            lines.append(f"| {_ICON[finding.severity]} | `{cell(finding.location or '(repository)')}` | "
                         f"{cell(finding.rule)} | {cell(finding.message)} | {cell(finding.fix)} |")
        if len(report.findings) > MAX_ROWS:
            lines.append(f"\n…and {len(report.findings) - MAX_ROWS} more (see the job log or the JSON report).")
        lines.append("")
    if report.cost is not None:
        lines += ["#### Cost delta (monthly estimate)", "", cost_markdown(report.cost)]
    if report.base is not None:
        lines += _diff(report)
    return "\n".join(lines).rstrip() + "\n"


def _diff(report: CheckReport) -> list[str]:
    if not report.diff:
        return ["#### Rendered diff", "", "No objects change.", ""]
    counts = ", ".join(f"{sum(1 for c in report.diff if c.change == kind)} {kind}" for kind in ("added", "changed", "removed"))
    lines = ["#### Rendered diff", "", f"<details><summary>{counts}</summary>", ""]
    for change in report.diff:
        scope = f"{change.namespace}/" if change.namespace else ""
        lines.append(f"- **{change.change}** `{change.kind} {scope}{change.name}` ({cell(change.file)})")
        for field in change.fields:
            before = "∅" if field.before is None else field.before
            after = "∅" if field.after is None else field.after
            lines.append(f"  - `{field.path}`: `{before}` → `{after}`")
        if change.truncated:
            lines.append("  - …more fields changed")
    lines += ["", "</details>", ""]
    return lines
