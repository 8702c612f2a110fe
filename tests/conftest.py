"""Fixtures shared by the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# /work/main/tests/conftest.py -> parents[2] is the directory that holds the checkout and shared/.
_DEFAULT_FORMATS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "formats"


@pytest.fixture(scope="session")
def formats_dir() -> Path:
    """Directory of real microscope files (``shared/data/formats``); skips the test if absent.

    The environment variable ``SBDENOISE_FORMATS_DIR`` overrides the default location.
    """
    directory = Path(os.environ.get("SBDENOISE_FORMATS_DIR", _DEFAULT_FORMATS_DIR))
    if not directory.is_dir():
        pytest.skip(
            f"real microscope test files not found at {directory} "
            "(set SBDENOISE_FORMATS_DIR to the shared/data/formats directory)"
        )
    return directory
