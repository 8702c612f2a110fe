"""The command-line interface (typer): one module per command group, each a thin layer over the API.

``sbdenoise`` (the console script) and ``python -m sbdenoise`` run :data:`app`; several training
processes start with ``torchrun --nproc_per_node=4 -m sbdenoise train DATASET -o MODEL``.
"""

from sbdenoise.cli.main import app

__all__ = ["app"]
