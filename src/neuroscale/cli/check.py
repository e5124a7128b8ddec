"""Placeholder: filled in by the check work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
