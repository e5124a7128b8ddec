"""Placeholder: filled in by the endpoint work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
