"""Fixtures shared by the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests simulate into temporary folders and test resumption: the machine's dataset cache is off
# for them (and for the processes they start); tests/simulate/test_cache.py turns it on itself.
os.environ["SBDENOISE_CACHE"] = "off"

# The real microscope files live in shared/data/formats beside the checkout (../shared); a clone
# elsewhere finds them through SBDENOISE_FORMATS_DIR or the workspace's /work/shared.
_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "formats",
    Path("/work/shared/data/formats"),
)


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
    """The ``smoke`` preset simulated once per session (synchronously, about 10 s).

    6 images of 384 px at 0.0609 A/px, dose 0.45 e-/px; split by structure into 2 train, 2 val
    and 2 test images.
    """
    from sbdenoise.simulate.presets import get_preset
    from sbdenoise.simulate.runner import run_simulation

    out = tmp_path_factory.mktemp("smoke") / "dataset"
    run_simulation(get_preset("smoke"), out, scheduler="synchronous", show_progress=False)
    return out
