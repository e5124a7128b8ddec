"""`neuroscale doctor`: diagnose the embedded platform, a repository, or a cluster."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


class DoctorFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def doctor(
    home: Optional[Path] = typer.Option(None, "--home", help="platform home (default ./.neuroscale or NEUROSCALE_HOME)"),
    repo: Optional[Path] = typer.Option(None, "--repo", help="diagnose a GitOps repository (the check lints)"),
    kubeconfig: Optional[Path] = typer.Option(None, "--kubeconfig", help="diagnose the cluster of this kubeconfig"),
    context: Optional[str] = typer.Option(None, "--context", help="kubeconfig context (default: current)"),
    snapshot: Optional[Path] = typer.Option(None, "--snapshot", help="run the rules on a saved snapshot"),
    save_snapshot: Optional[Path] = typer.Option(None, "--save-snapshot",
                                                 help="write the snapshot (secret values never included)"),
    output: DoctorFormat = typer.Option(DoctorFormat.text, "--output", "-o", help="text, json or markdown"),
) -> None:
    """Name the root cause of what is broken, with the fix; exit 0 healthy, 1 findings, 2 could not run."""
    from neuroscale.cluster.snapshot import load_snapshot, read_cluster_snapshot
    from neuroscale.cluster.snapshot import save_snapshot as write_snapshot
    from neuroscale.doctor.report import render_json, render_markdown, render_text
    from neuroscale.doctor.runner import diagnose

    if repo is not None:
        from neuroscale.doctor.repo import diagnose_repo

        diagnosis = diagnose_repo(repo)
    else:
        if snapshot is not None:
            state = load_snapshot(snapshot)
        elif kubeconfig is not None or context is not None:
            state = read_cluster_snapshot(kubeconfig=kubeconfig, context=context)
        else:
            from neuroscale.doctor.embedded import read_embedded_snapshot
            from neuroscale.home import Home

            state = read_embedded_snapshot(Home.resolve(home))
        if save_snapshot is not None:
            write_snapshot(state, save_snapshot)
        diagnosis = diagnose(state)
    if output is DoctorFormat.json:
        typer.echo(render_json(diagnosis))
    elif output is DoctorFormat.markdown:
        typer.echo(render_markdown(diagnosis), nl=False)
    else:
        render_text(diagnosis, Console())
    raise typer.Exit(diagnosis.exit_code)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
