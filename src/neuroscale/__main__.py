"""`python -m neuroscale` is the `neuroscale` command."""

from neuroscale.cli.main import run

run()
