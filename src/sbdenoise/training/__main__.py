"""``python -m sbdenoise.training DATASET -o MODEL [options]``: the ``train`` command on its own.

This is the entry point for several processes::

    torchrun --nproc_per_node=4 -m sbdenoise.training DATASET -o MODEL [options]
"""

from __future__ import annotations

import typer

from sbdenoise.cli_train import train

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(train)

if __name__ == "__main__":
    app()
