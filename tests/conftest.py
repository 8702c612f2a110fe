"""Fixtures shared by the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock

# Tests simulate into temporary folders and test resumption: the machine's dataset cache is off
# for them (and for the processes they start); tests/simulate/test_cache.py turns it on itself.
os.environ["SBDENOISE_CACHE"] = "off"

# The real microscope files live in shared/data/formats beside the checkout (../shared); a clone
# elsewhere finds them through SBDENOISE_FORMATS_DIR or the workspace's /work/shared.
_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "formats",
    Path("/work/shared/data/formats"),
)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, one torch thread per worker: the workers already share the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def formats_dir() -> Path:
    """Directory of real microscope files (``shared/data/formats``); skips the test if absent.

    The environment variable ``SBDENOISE_FORMATS_DIR`` overrides the default locations.
    """
    override = os.environ.get("SBDENOISE_FORMATS_DIR")
    candidates = (Path(override),) if override else _CANDIDATES
    for directory in candidates:
        if directory.is_dir():
            return directory
    pytest.skip(
        f"real microscope test files not found in {', '.join(map(str, candidates))} "
        "(set SBDENOISE_FORMATS_DIR to the shared/data/formats directory)"
    )


@pytest.fixture(scope="session")
def smoke_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``smoke`` preset simulated once per test run (synchronously, about 10 s).

    6 images of 384 px at 0.0609 A/px, dose 0.45 e-/px; split by structure into 2 train, 2 val
    and 2 test images. Under pytest-xdist the workers share one copy: the first to need it
    simulates it under a file lock in the run's common temporary folder, the others wait and
    reuse it.
    """
    from sbdenoise.simulate.presets import get_preset
    from sbdenoise.simulate.runner import run_simulation

    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: no one to share with
        out = tmp_path_factory.mktemp("smoke") / "dataset"
        run_simulation(get_preset("smoke"), out, scheduler="synchronous", show_progress=False)
        return out
    shared = tmp_path_factory.getbasetemp().parent
    out = shared / "smoke" / "dataset"
    with FileLock(str(shared / "smoke.lock")):
        if not (out / "dataset.h5").is_file():
            run_simulation(get_preset("smoke"), out, scheduler="synchronous", show_progress=False)
    return out


@pytest.fixture(scope="session")
def benchmark_module():
    """Import a script of ``benchmarks/`` by name (they import each other, e.g. ``table1``)."""
    import importlib
    import sys

    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")

    def load(name: str):
        sys.path.insert(0, folder)
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(folder)

    return load
