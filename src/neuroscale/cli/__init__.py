"""Thin typer commands: parse arguments, call one service, render the result."""
