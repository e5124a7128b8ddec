"""Render a diagnosis: coloured text grouped by triage category, JSON, or Markdown.

Every format carries the same facts per finding: object, evidence, root
cause, fix, and the findings it explains, under a one-line summary.
"""

from __future__ import annotations

import json
from itertools import groupby

from rich.console import Console
from rich.markup import escape

from neuroscale.doctor.model import DoctorFinding
from neuroscale.doctor.runner import Diagnosis
from neuroscale.findings import Severity

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def summary_line(diagnosis: Diagnosis) -> str:
    infos = len(diagnosis.findings) - diagnosis.errors - diagnosis.warnings
    head = "could not run: " if diagnosis.could_not_run else ""
    return (f"{head}{diagnosis.errors} errors, {diagnosis.warnings} warnings"
            + (f", {infos} notes" if infos else "") + f" ({diagnosis.rules_run} rules, target {diagnosis.target})")


def _explains_text(finding: DoctorFinding, by_key: dict[str, DoctorFinding]) -> str:
    if not finding.explains:
        return ""
    names = ", ".join(str(by_key[k].obj or k) for k in finding.explains[:4] if k in by_key)
    more = f" and {len(finding.explains) - 4} more" if len(finding.explains) > 4 else ""
    return f"→ explains {len(finding.explains)} other finding{'s' * (len(finding.explains) > 1)}: {names}{more}"


def render_text(diagnosis: Diagnosis, console: Console) -> None:
    by_key = {f.key: f for f in diagnosis.findings}
    if not diagnosis.findings:
        console.print("[bold green]healthy[/]: no rule fired")
    for category, group in groupby(diagnosis.findings, key=lambda f: f.category):
        console.print(f"\n[bold underline]{category.value}[/]")
        for f in group:
            console.print(f"[{_STYLE[f.severity]}]{f.severity.value:7}[/] [bold]{escape(str(f.obj or f.file))}[/] "
                          f"{escape(f.message)} [dim]({f.rule})[/]", highlight=False, soft_wrap=True)
            explains = _explains_text(f, by_key)
            if explains:
                console.print(f"        [magenta]{escape(explains)}[/]", highlight=False, soft_wrap=True)
            if f.explained_by:
                cause = by_key.get(f.explained_by)
                console.print(f"        [dim]explained by {escape(str(cause.obj if cause else f.explained_by))}[/]",
                              highlight=False)
            console.print(f"        [dim]evidence:[/] {escape(f.evidence)}", highlight=False, soft_wrap=True)
            console.print(f"        [dim]cause:[/]    {escape(f.root_cause)}", highlight=False, soft_wrap=True)
            fix = f.fix.replace("\n", "\n                  ")
            console.print(f"        [dim]fix:[/]      {escape(fix)}", highlight=False, soft_wrap=True)
    style = "bold red" if diagnosis.errors or diagnosis.could_not_run else "yellow" if diagnosis.warnings else "green"
    console.print(f"\n[{style}]{escape(summary_line(diagnosis))}[/]", highlight=False, soft_wrap=True)


def render_json(diagnosis: Diagnosis) -> str:
    return json.dumps(diagnosis.to_dict(), indent=2)


def render_markdown(diagnosis: Diagnosis) -> str:
    by_key = {f.key: f for f in diagnosis.findings}
    lines = [f"## neuroscale doctor: {summary_line(diagnosis)}", ""]
    if not diagnosis.findings:
        lines.append("Healthy: no rule fired.")
    for category, group in groupby(diagnosis.findings, key=lambda f: f.category):
        lines += [f"### {category.value}", ""]
        for f in group:
            lines.append(f"- **{f.severity.value}** `{f.obj or f.file}` {f.message} (`{f.rule}`)")
            explains = _explains_text(f, by_key)
            if explains:
                lines.append(f"  - {explains}")
            lines.append(f"  - evidence: `{f.evidence}`")
            lines.append(f"  - cause: {f.root_cause}")
            lines += ["  - fix:", "    ```", *(f"    {ln}" for ln in f.fix.splitlines()), "    ```"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
