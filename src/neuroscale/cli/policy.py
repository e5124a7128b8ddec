"""Placeholder: filled in by the policy work."""

import typer


def register(app: typer.Typer) -> None:
    """Not yet implemented."""
