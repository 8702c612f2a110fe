"""The shipped model: present, described by its card, the default of `denoise` and the demo."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sbdenoise.cli import app
from sbdenoise.demo import run_demo
from sbdenoise.denoise.api import DEFAULT_METHOD, SBD_METHOD
from sbdenoise.io import Micrograph, read_image, write_image
from sbdenoise.metrics import psnr
from sbdenoise.nn.model_file import load_model
from sbdenoise.noise.models import sample_poisson
from sbdenoise.pretrained import SHIPPED_MODEL_NAME, shipped_model_path
from sbdenoise.simulate.presets import get_preset

MAX_MODEL_BYTES = 20 * 2**20


@pytest.fixture(scope="module")
def shipped():
    path = shipped_model_path()
    assert path is not None, f"{SHIPPED_MODEL_NAME} and its card are missing from the package"
    return path


def test_shipped_model_file_and_card(shipped):
    assert shipped.stat().st_size < MAX_MODEL_BYTES
    assert shipped.read_bytes()[8:9] == b"{"  # safetensors: 8-byte header length, then JSON
    module, card = load_model(shipped)
    assert card.architecture == "unet"
    preset = get_preset("shipped")
    assert card.sampling == pytest.approx(4 * preset.detector.pixel_size, rel=0.06)
    assert card.dose == pytest.approx(16 * preset.detector.dose, rel=1e-3)
    assert set(card.defocus_nm) <= set(preset.optics.defocus_nm) and len(card.defocus_nm) >= 6
    # the shipped preset, or its specimens in wider cells (`shipped-wide`, the first half of v14)
    assert card.training_data["dataset_name"] in ("shipped", "shipped-wide")
    assert card.training_data["filters"]["contrast"] == ["white"]
    # the measured receptive field spans several nanometres, as the method needs
    assert card.receptive_field_angstrom > 40.0
    assert card.metrics["val_psnr_db"] > 30.0
    assert card.metrics["test_psnr_db"] > card.metrics["test_vst_bm3d_psnr_db"]
    assert sum(p.numel() for p in module.parameters()) > 100_000


@pytest.mark.parametrize("ensemble", [1, 8])
def test_the_shipped_model_carries_a_surface_null_for_its_plain_and_ensembled_outputs(
    shipped, ensemble
):
    """`likelihood` calibrates the surface verdicts of `-p ensemble=1` and `-p ensemble=8` with a
    table made from that very output of these weights (not the other's: their spurious surface
    candidates differ)."""
    from sbdenoise.analysis.surface_null import SurfaceNull, sidecar_path, surface_null_for
    from sbdenoise.denoise.registry import prepare

    prepared = prepare(SBD_METHOD, {"ensemble": ensemble}, model=shipped)
    table = surface_null_for(prepared)
    assert table is not None, f"no surface null for ensemble={ensemble} beside {shipped.name}"
    assert table.fingerprint["params"]["ensemble"] == ensemble
    assert {level.dose_per_area for level in table.levels} >= {40.0, 121.0, 400.0}
    assert all(len(level.p_values) > 100 for level in table.levels)
    other = 8 if ensemble == 1 else 1
    assert not SurfaceNull.load(sidecar_path(shipped, other)).matches(prepared)


@pytest.mark.slow
def test_denoise_uses_the_shipped_model_by_default(shipped, tmp_path):
    assert DEFAULT_METHOD == SBD_METHOD
    data = json.loads(shipped.with_suffix(".json").read_text())
    assert data["architecture"] == "unet"
    from sbdenoise.demo import demo_structure
    from sbdenoise.simulate.frame import simulate_frame

    spec = get_preset("smoke").model_copy(update={"image_size": 256})
    truth = simulate_frame(demo_structure(), spec, -12.0).image.astype(np.float64)
    counts = sample_poisson(truth, np.random.default_rng(1)).astype(np.uint16)
    source = write_image(Micrograph(counts, pixel_size=0.061), tmp_path / "frame.tif")
    result = CliRunner().invoke(app, ["denoise", str(source), "-o", str(tmp_path / "out.tif")])
    assert result.exit_code == 0, result.stdout
    assert f"with {SBD_METHOD} (model=" in result.stdout.replace("\n", "")
    assert "WARNING" not in result.stdout
    denoised = read_image(tmp_path / "out.tif").data
    assert denoised.shape == counts.shape
    assert psnr(denoised, truth) > psnr(counts, truth, clip=False) + 20.0


@pytest.mark.slow
def test_demo_denoises_a_simulated_frame_with_the_shipped_model(shipped, tmp_path):
    result = run_demo(tmp_path / "demo", size=384)
    summary = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert summary["method"] == SBD_METHOD and summary["source"] == "pt-ceo2"
    assert summary["params"]["model"] == str(shipped)
    assert result.psnr_raw == pytest.approx(3.5, abs=0.3)
    assert result.psnr_denoised > 28.0
    assert result.figure_path.stat().st_size > 50_000


def test_denoise_warns_when_the_frame_is_outside_the_training_doses(shipped, tmp_path):
    from sbdenoise.denoise.api import denoise_micrograph

    _, card = load_model(shipped)
    low, high = card.dose_range_working
    pixel = 0.061
    factor = round(card.sampling / pixel)
    # inside: the trained doses per detector pixel (and within 15 % of a single dose); outside:
    # a third of the lowest and three times the highest
    inside = sorted({low / factor**2, high / factor**2, 0.45 if low < 7.2 < high else low / 16})
    outside = [low / factor**2 / 3, 3 * high / factor**2]
    rng = np.random.default_rng(3)
    for dose, warned in [(d, False) for d in inside] + [(d, True) for d in outside]:
        counts = rng.poisson(dose, size=(128, 128)).astype(np.uint16)
        result = denoise_micrograph(Micrograph(counts, pixel_size=pixel), SBD_METHOD)
        text = result.describe()
        assert ("WARNING" in text) == warned, (dose, text)
