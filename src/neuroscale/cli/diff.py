"""`neuroscale prediction-diff REPO --base REF`: the pull-request prediction diff, in CI or anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from neuroscale.cli.output import OutputFormat, emit
from neuroscale.cli.pr import MARKS, finding_lines
from neuroscale.errors import InvalidInput

FORMATS = ("table", "json", "yaml", "markdown")


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["### Prediction diff", ""]
    if not rows:
        lines.append("No endpoint's model changes: nothing to compare.")
    for row in rows:
        check = row["check"]
        lines.append(f"**{row['endpoint']}** ({row['against'] or 'not compared'}): {MARKS[check['status']]} "
                     f"{check['status']}")
        lines += [f"- {line.strip()}" for finding in check["findings"] for line in finding_lines(finding)]
        lines.append("")
    return "\n".join(lines)


def prediction_diff(
    repo: Path = typer.Argument(Path("."), help="The GitOps repository checkout."),
    base: str = typer.Option(..., "--base", help="The commit serving now (a pull request's base, e.g. origin/main)."),
    head: str = typer.Option("HEAD", "--head", help="The proposed commit."),
    serving_url: str = typer.Option("", "--serving-url", help="Where the serving endpoint answers: a template of "
                                    "{name} and {namespace}, e.g. http://{name}.{namespace}.ml.example.dev."),
    preview_url: str = typer.Option("", "--preview-url", help="Where the pull request's preview answers: a template "
                                    "of {name}, {namespace} and {number}."),
    pull_request: Optional[int] = typer.Option(None, "--pull-request", help="The pull request's number (names "
                                               "its preview <name>-pr-<number>)."),
    model_root: list[Path] = typer.Option([], "--model-root", help="Another directory local model files may be "
                                          "read from (repeatable; the repository and NEUROSCALE_MODEL_ROOTS always are)."),
    output: str = typer.Option("table", "--output", "-o", help="table, json, yaml or markdown"),
) -> int:
    """Replay each changed endpoint's sample against the serving and the proposed model; exit 1 when a gate
    fails, 2 when something could not be compared.

    Against the running endpoint and preview when both answer, else against the model files, served
    here by the platform's own model server.
    """
    from neuroscale.services.diff_commits import Endpoints, diff_commits

    if output not in FORMATS:
        raise InvalidInput(f"unknown output format {output!r}", where="--output", fix=f"use one of {', '.join(FORMATS)}")
    if bool(serving_url) != bool(preview_url) or (preview_url and pull_request is None):
        raise InvalidInput("--serving-url and --preview-url go together, with --pull-request", where="--preview-url",
                           fix="pass all three to compare running endpoints, or none to compare the model files")
    diffs = diff_commits(repo, base, head, endpoints=Endpoints(serving_url, preview_url, pull_request),
                         model_roots=model_root)
    rows: list[dict[str, Any]] = [{"endpoint": d.endpoint, "against": d.against, "check": d.result.to_dict()}
                                  for d in diffs]
    if output == "markdown":
        typer.echo(_markdown(rows))
    elif output == "table":
        lines = [f"{row['endpoint']} ({row['against'] or 'not compared'}): {MARKS[row['check']['status']]} "
                 f"{row['check']['status']}\n" + "\n".join(line for f in row["check"]["findings"]
                                                           for line in finding_lines(f)) for row in rows]
        typer.echo("\n".join(lines) or "No endpoint's model changes between the two commits: nothing to compare.")
    else:
        emit(rows, OutputFormat(output))
    statuses = {d.result.status for d in diffs}
    return 2 if "error" in statuses else 1 if "fail" in statuses else 0


def register(app: typer.Typer) -> None:
    app.command("prediction-diff")(prediction_diff)
