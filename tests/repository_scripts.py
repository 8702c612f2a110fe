"""Import a script of the repository's ``scripts/`` folder (not a package) from its file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    """A fresh module of ``scripts/<name>.py`` (registered while it runs: dataclasses need it).

    Parameters
    ----------
    name : str
        The script's file name without ``.py``.
    """
    module_spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    if module_spec is None or module_spec.loader is None:
        raise FileNotFoundError(SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module
