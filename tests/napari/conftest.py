"""Fixtures of the napari plugin tests (skipped when napari is not installed).

Qt runs headless: ``QT_QPA_PLATFORM=offscreen`` unless the environment chooses a platform. The
widget tests use :class:`napari.components.ViewerModel` (no canvas, no OpenGL); the one test with
a full viewer skips where no OpenGL context can be made (offscreen Qt without an X display).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: Pixel size of the test frame, angstrom (the reference detector).
PIXEL_SIZE = 0.061


@pytest.fixture(scope="session")
def qt_starts() -> None:
    """Skip unless a Qt application starts here (tried in a subprocess: Qt aborts the process
    when no platform plugin can load, for instance a system library is missing)."""
    code = "from qtpy.QtWidgets import QApplication; QApplication([])"
    try:
        started = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"Qt did not start: {error}")
    if started.returncode != 0:
        pytest.skip(f"Qt cannot start here: {started.stderr.decode(errors='replace')[-300:]}")


@pytest.fixture(scope="session")
def lattice_frame():
    """A 256 x 256 synthetic lattice at 0.45 e-/px and one Poisson draw of it (seed 3)."""
    from sbdenoise.synthetic import synthetic_lattice

    truth = synthetic_lattice((256, 256), pixel_size=PIXEL_SIZE, seed=1)
    counts = np.random.default_rng(3).poisson(truth.expectation).astype(np.uint16)
    return truth, counts


@pytest.fixture
def null_cache(tmp_path, monkeypatch):
    """A private cache of null tables (the machine's is left alone)."""
    folder = tmp_path / "null"
    monkeypatch.setenv("SBDENOISE_NULL_CACHE", str(folder))
    return folder
