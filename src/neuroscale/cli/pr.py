"""Placeholder: filled in by the pr work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
