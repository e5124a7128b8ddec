"""Text report for terminals and CI logs: findings grouped by file, colour only on a TTY."""

from __future__ import annotations

import io
from itertools import groupby

from rich.console import Console
from rich.markup import escape

from neuroscale.check.model import CheckReport
from neuroscale.check.report.summary import verdict
from neuroscale.findings import Severity

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def render_text(report: CheckReport, *, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, highlight=False, soft_wrap=True)
    for file, group in groupby(report.findings, key=lambda f: f.file):
        console.print(f"[bold]{escape(file or '(repository)')}[/]")
        for finding in group:
            where = f"{finding.line}: " if finding.line else ""
            obj = " " + escape(f"[{finding.obj}]") if finding.obj else ""  # `[postgresql/x]` reads as markup
            console.print(f"  {where}[{_STYLE[finding.severity]}]{finding.severity.value}[/] "
                          f"{escape(finding.rule)}{obj} {escape(finding.message)}")
            if finding.fix:
                console.print(f"      [dim]fix:[/] {escape(finding.fix)}")
    if report.cost is not None and report.cost.items:
        console.print(f"[bold]cost delta[/]: {report.cost.total_delta:+,.2f} {report.cost.currency}/month "
                      f"over {len(report.cost.items)} changed workload(s)")
    if report.diff:
        counts = {kind: sum(1 for c in report.diff if c.change == kind) for kind in ("added", "changed", "removed")}
        console.print("[bold]rendered diff[/]: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    style = "bold red" if report.exit_code else "bold green"
    console.print(f"[{style}]{escape(verdict(report))}[/]")
    return buffer.getvalue()
