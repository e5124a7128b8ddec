"""Placeholder: filled in by the cluster work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
