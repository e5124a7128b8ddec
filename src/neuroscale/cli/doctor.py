"""Placeholder: filled in by the doctor work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
