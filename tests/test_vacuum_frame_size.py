"""The frame-size benchmark: equal vacuum area per side, both inference modes, the same frames."""

from __future__ import annotations

import json

import pytest
import torch

from sbdenoise.nn import build_model
from sbdenoise.nn.card import make_card
from sbdenoise.nn.model_file import save_model


@pytest.fixture(scope="module")
def frame_size(benchmark_module):
    return benchmark_module("vacuum_frame_size")


def test_equal_area_per_side(frame_size):
    assert frame_size.frames_for(512, 8.0) == 31  # 8 Mpx / 0.262 Mpx = 30.5
    assert frame_size.frames_for(1024, 8.0) == 8
    assert frame_size.frames_for(1536, 8.0) == 3  # 3.4
    assert frame_size.frames_for(4096, 8.0) == 2  # 0.48: never fewer than 2


def test_modes_agree_on_a_frame_within_the_field_and_part_beyond_it(
    frame_size, smoke_dataset, tmp_path
):
    torch.manual_seed(0)
    kwargs = {"scales": 3, "base_channels": 4}
    network = build_model("unet", **kwargs).eval()
    for layer in network.modules():  # an untrained net with a reach: ReLU-gain weights
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    card = make_card(network, "unet", kwargs, sampling=0.244, dose=7.2, input_scale=1 / 7.2)
    card = card.model_copy(update={"training_data": {"crop_px": 32}})
    model = save_model(tmp_path / "tiny.safetensors", network, card)
    out = tmp_path / "results"
    # 128 px at 0.061 A/px is 32 working px: the training field itself; 256 px is twice it
    frame_size.main(
        [
            "--dataset",
            str(smoke_dataset),
            "--model",
            f"tiny={model}",
            "--sides",
            "128,256",
            "--megapixels",
            "0.1",
            "--validation-images",
            "1",
            "--contrast",
            "all",
            "--threads",
            "1",
            "--output",
            str(out),
        ]
    )
    result = json.loads((out / "vacuum_frame_size.json").read_text())
    (tiny,) = result["models"]
    whole, field = tiny["vacuum"]["whole frame"], tiny["vacuum"]["training field"]
    assert [row["side_px"] for row in whole] == [128, 256]
    assert [row["frames"] for row in whole] == [6, 2]  # 0.1 Mpx: 6.1 frames of 128 px, 2 of 256
    # the same frames (seeded per side): within the field the two modes are one computation
    assert whole[0]["candidates"] == field[0]["candidates"]
    text = (out / "vacuum_frame_size.md").read_text()
    assert "| tiny | training field | 256 | 64 | 2 |" in text
    validation = tiny["validation"]
    assert validation["whole frame"]["psnr"] != validation["training field"]["psnr"]
    assert (out / "vacuum_frame_size.png").stat().st_size > 10_000
