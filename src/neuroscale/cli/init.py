"""Placeholder: filled in by the init work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
