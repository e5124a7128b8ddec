"""`neuroscale doctor`: diagnose the embedded platform, a repository, or a cluster."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.text import Text


class DoctorFormat(str, Enum):
    text = "text"
    table = "table"  # the same as text: every data command takes -o table|json|yaml
    json = "json"
    yaml = "yaml"
    markdown = "markdown"


def doctor(
    home: Optional[Path] = typer.Option(None, "--home", help="platform home (default ./.neuroscale, NEUROSCALE_HOME)"),
    repo: Optional[Path] = typer.Option(None, "--repo", help="diagnose a GitOps repository (the check lints)"),
    kubeconfig: Optional[Path] = typer.Option(None, "--kubeconfig", help="diagnose the cluster of this kubeconfig"),
    context: Optional[str] = typer.Option(None, "--context", help="kubeconfig context (default: current)"),
    snapshot: Optional[Path] = typer.Option(None, "--snapshot", help="run the rules on a saved snapshot"),
    save_snapshot: Optional[Path] = typer.Option(None, "--save-snapshot",
                                                 help="write the snapshot (secret values never included)"),
    output: DoctorFormat = typer.Option(DoctorFormat.text, "--output", "-o", help="text (table), json, yaml or markdown"),
    coverage: bool = typer.Option(False, "--coverage", help="list which rule or lint covers each failure mode"),
    since: str = typer.Option("15m", "--since", help="embedded platform: ignore events older than this (Go "
                              "duration: 90s, 15m, 2h); events before an endpoint last became ready are history "
                              "anyway"),
) -> None:
    """Name the root cause of what is broken, with the fix; exit 0 healthy, 1 findings, 2 could not run."""
    if coverage:
        _print_coverage(output)
        return
    from neuroscale.doctor.report import render_json, render_markdown, render_text
    from neuroscale.doctor.targets import diagnose_target

    diagnosis = diagnose_target(home=home, repo=repo, kubeconfig=kubeconfig, context=context, snapshot=snapshot,
                                save_to=save_snapshot, since=_seconds(since))
    if output is DoctorFormat.json:
        typer.echo(render_json(diagnosis))
    elif output is DoctorFormat.yaml:
        from neuroscale.yamlio import dump

        typer.echo(dump(json.loads(render_json(diagnosis))), nl=False)
    elif output is DoctorFormat.markdown:
        typer.echo(render_markdown(diagnosis), nl=False)
    else:
        render_text(diagnosis, Console())
    raise typer.Exit(diagnosis.exit_code)


def _seconds(text: str) -> float:
    from neuroscale.errors import InvalidInput
    from neuroscale.policy.kyverno_units import parse_duration

    nanoseconds = parse_duration(text.strip())
    if nanoseconds is None or nanoseconds <= 0:
        raise InvalidInput(f"--since {text!r} is not a positive duration", where="--since",
                           fix="give a Go duration such as 90s, 15m or 2h")
    return nanoseconds / 1e9


def _print_coverage(output: DoctorFormat) -> None:
    from dataclasses import asdict

    from neuroscale.cli.output import simple_table
    from neuroscale.doctor.coverage import coverage_table

    table = coverage_table()
    if output in (DoctorFormat.json, DoctorFormat.yaml):
        from neuroscale.cli.output import OutputFormat, emit

        emit([{**asdict(row), "covered": row.covered} for row in table], OutputFormat(output.value))
        return
    rows = [(_linked(row.failure_mode, row.doc), ", ".join(row.rules), ", ".join(row.lints), row.note)
            for row in table]
    columns = ("failure mode (catalogue entry)", "doctor rules", "check lints", "note")
    Console().print(simple_table("failure-mode coverage", columns, rows))


def _linked(failure_mode: str, doc: str) -> Text:
    """`FM-20 docs/failure-modes/FM-20.md`, a terminal hyperlink to the file when the checkout has it."""
    from neuroscale.doctor.coverage import REPO_ROOT

    if not doc:
        return Text(failure_mode)
    path = REPO_ROOT / doc
    style = f"link {path.as_uri()}" if path.is_file() else ""
    return Text.assemble(failure_mode, " ", (doc, style))


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
