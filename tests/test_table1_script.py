"""Smoke test of benchmarks/table1.py: one run on the smoke dataset with a tiny UNet."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sbdenoise.nn import build_model, make_card, save_model
from sbdenoise.simulate.presets import smoke
from sbdenoise.simulate.store import SimulatedDataset

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "table1.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("table1_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def tiny_unet(smoke_dataset: Path, tmp_path: Path) -> Path:
    """An untrained UNet (2 scales, 4 channels) at 4 x the smoke pixel size."""
    data = SimulatedDataset(smoke_dataset)
    pixel_size = float(data.params["pixel_size"][0])
    dose = float(data.params["dose"][0]) * 16
    kwargs = {"scales": 2, "base_channels": 4}
    # seeded: an unlucky random draw of so few ReLU channels can leave the centre output blind to
    # the input (receptive field 0), which the card rightly refuses
    torch.manual_seed(0)
    module = build_model("unet", **kwargs).eval()
    card = make_card(
        module, "unet", kwargs, sampling=4 * pixel_size, dose=dose, input_scale=1 / dose
    )
    return save_model(tmp_path / "tiny.safetensors", module, card)


@pytest.mark.slow
def test_table1_writes_every_row(smoke_dataset: Path, tiny_unet: Path, tmp_path: Path) -> None:
    table1 = _load_script()
    out = tmp_path / "results"
    argv = [
        "--dataset", str(smoke_dataset), "--contrast", "all", "--max-images", "1",
        "--realisations", "1", "--no-tune", "--timing-runs", "1", "--unet", str(tiny_unet),
        "--no-progress", "--output", str(out),
    ]  # fmt: skip
    table1.main(argv)

    result = json.loads((out / "table1.json").read_text())
    rows = {row["method"]: row for row in result["rows"]}
    assert list(rows) == [key for key, _, _ in table1.ROWS]
    assert rows["sbd-dncnn"]["status"] == rows["sbd-small-unet"]["status"] == "not trained"
    for key in ("raw", "lowpass", "wiener", "vst-nlm", "vst-bm3d", "pure-let", "sbd-unet"):
        assert rows[key]["status"] == "ok"
        assert math.isfinite(rows[key]["psnr"]) and 0.0 < rows[key]["ssim"] <= 1.0
    # A raw 0.45 e-/px frame scores about 3.5 dB unclipped; VST+BM3D is far above it.
    assert 2.0 < rows["raw"]["psnr"] < 5.0
    assert rows["vst-bm3d"]["psnr"] > rows["raw"]["psnr"] + 10.0
    for key in ("lowpass", "wiener", "vst-nlm", "vst-bm3d", "pure-let", "sbd-unet"):
        assert rows[key]["seconds_1024"] > 0
    assert rows["vst-bm3d"]["ratio_vst_bm3d"] == pytest.approx(1.0)
    assert result["dataset"]["n_used"] == 1 and result["settings"]["realisations"] == 1
    assert [t["met"] is None for t in result["targets"]] == [False] * 3  # all measured

    doses = [r for r in result["robustness"]["rows"] if r["group"] == "dose"]
    assert [r["dose"] for r in doses] == list(table1.SWEEP_DOSES)
    assert all(np.isfinite(r["unet_psnr"]) for r in doses)
    assert doses[1]["delta_vs_reference_db"] == 0.0

    text = (out / "table1.md").read_text()
    assert "Machine: " in text and result["machine"]["platform"] in text
    assert "SBD + DnCNN | not trained" in text and "VST + BM3D" in text


def test_robustness_specs_keep_the_test_structures() -> None:
    from sbdenoise.simulate.plan import plan_dataset

    table1 = _load_script()
    base = smoke()
    specs = dict(table1.robustness_spec(base))
    assert next(iter(specs)) == "nominal" and len(specs) == 5
    assert specs["focal-spread-6nm"].optics.focal_spread_nm == 6.0
    assert specs["vibration-80pm"].optics.vibration_pm == 80.0
    assert specs["pixel-size-x1.05"].detector.pixel_size == pytest.approx(0.061 * 1.05)

    def test_structures(spec):
        return [t.structure for t in plan_dataset(spec) if t.split == "test"]

    for spec in specs.values():
        assert test_structures(spec) == test_structures(base)


@pytest.mark.slow
def test_simulate_split_keeps_the_chosen_test_structures(smoke_dataset: Path, tmp_path: Path):
    table1 = _load_script()
    store = table1.simulate_split(smoke(), tmp_path / "nominal", "test", False, max_structures=1)
    subset = json.loads((tmp_path / "nominal" / "subset.json").read_text())
    assert subset["split"] == "test" and subset["n_structures"] == 1
    assert subset["n_images"] == 2 and len(subset["source_indices"]) == 2
    assert not (tmp_path / "nominal" / "work").exists()
    part = SimulatedDataset(store.parent)
    full = SimulatedDataset(smoke_dataset)
    for new, source in enumerate(subset["source_indices"]):
        assert full.params["split"][source] == "test"
        assert int(part.params["source_index"][new]) == source
        np.testing.assert_array_equal(part.image(new), full.image(source))
    # a second call finds the store and simulates nothing
    assert table1.simulate_split(smoke(), tmp_path / "nominal", "test", False) == store
