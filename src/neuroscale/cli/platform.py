"""Placeholder: filled in by the platform work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
