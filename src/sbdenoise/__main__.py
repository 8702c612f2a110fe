"""``python -m sbdenoise``: the command-line interface."""

from sbdenoise.cli import app

app()
