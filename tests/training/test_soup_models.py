"""scripts/soup_models.py: the weighted mean of frozen-batch-norm fine-tunes of one start."""

from __future__ import annotations

import argparse

import pytest
import torch

from sbdenoise.nn import build_model
from sbdenoise.nn.card import make_card
from sbdenoise.nn.model_file import load_model, save_model
from tests.repository_scripts import load_script

KWARGS = {"scales": 2, "base_channels": 4}


def _member(tmp_path, name: str, seed: int, statistics_seed: int = 0):
    """A tiny UNet whose batch-norm statistics depend on ``statistics_seed`` only."""
    torch.manual_seed(statistics_seed)
    network = build_model("unet", **KWARGS)
    network.train()
    network(torch.rand(2, 1, 16, 16))  # running statistics away from their defaults
    statistics = {k: v.clone() for k, v in network.state_dict().items() if "running_" in k}
    torch.manual_seed(seed)
    other = build_model("unet", **KWARGS)  # other weights, the same statistics
    state = other.state_dict()
    state.update(statistics)
    other.load_state_dict(state)
    card = make_card(other, "unet", KWARGS, sampling=0.244, dose=7.2, input_scale=1 / 7.2)
    card = card.model_copy(update={"metrics": {"val_psnr_db": 30.0, "best_step": 7}})
    return save_model(tmp_path / f"{name}.safetensors", other, card)


def test_the_soup_is_the_weighted_mean_and_says_so(tmp_path, capsys):
    soup = load_script("soup_models")
    first, second = _member(tmp_path, "a", 1), _member(tmp_path, "b", 2)
    output = tmp_path / "soup.safetensors"
    soup.main(["-o", str(output), f"3={first}", f"1={second}", "--threads", "1"])
    states = [load_model(path)[0].state_dict() for path in (first, second)]
    network, card = load_model(output)
    for key, value in network.state_dict().items():
        if value.is_floating_point():
            expected = 0.75 * states[0][key].double() + 0.25 * states[1][key].double()
            torch.testing.assert_close(value.double(), expected, rtol=1e-6, atol=1e-7)
    assert card.metrics["soup"] == {"members": [str(first), str(second)], "weights": [0.75, 0.25]}
    assert "val_psnr_db" not in card.metrics and card.metrics["best_step"] == 7
    assert "0.75 x" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="exists"):
        soup.main(["-o", str(output), f"1={first}", f"1={second}"])


def test_members_with_their_own_statistics_are_refused(tmp_path):
    soup = load_script("soup_models")
    first = _member(tmp_path, "a", 1)
    other = _member(tmp_path, "c", 2, statistics_seed=5)
    with pytest.raises(SystemExit, match="other batch-norm statistics"):
        soup.main(["-o", str(tmp_path / "x.safetensors"), f"1={first}", f"1={other}"])
    with pytest.raises(SystemExit, match="at least two"):
        soup.main(["-o", str(tmp_path / "y.safetensors"), f"1={first}"])
    for bad in ("0=a.safetensors", "x=a.safetensors", "2"):
        with pytest.raises(argparse.ArgumentTypeError, match="WEIGHT=PATH"):
            soup.parse_member(bad)


def test_a_run_scores_the_soup_on_its_validation_crops(tiny_spec, tmp_path, capsys):
    from sbdenoise.training import train

    soup = load_script("soup_models")
    frozen = tiny_spec.model_copy(update={"freeze_batch_norm": True, "steps": 4})
    start = train(tiny_spec, tmp_path / "start", show_progress=False, threads=1).model_path
    ends = []
    for seed in (1, 2):  # two frozen fine-tunes of one start: the same statistics
        warm = frozen.model_copy(update={"init_from": str(start), "seed": seed})
        ends.append(train(warm, tmp_path / f"end{seed}", show_progress=False, threads=1))
    output = tmp_path / "soup.safetensors"
    run = str(tmp_path / "end1")
    soup.main(["-o", str(output), f"1={ends[0].model_path}", f"1={ends[1].model_path}",
               "--run", run, "--threads", "1"])  # fmt: skip
    _, card = load_model(output)
    reported = float(capsys.readouterr().out.split("validation (fp32) on the crops of ")[1]
                     .split(": ")[1].split(" dB")[0])  # fmt: skip
    assert card.metrics["val_psnr_db"] == pytest.approx(reported, abs=1e-3)
    assert 5.0 < card.metrics["val_psnr_db"] < 60.0
    assert card.metrics["soup"]["validation_run"] == run


def test_a_half_precision_copy_is_half_the_file_and_loads_as_rounded(tmp_path):
    soup = load_script("soup_models")
    first = _member(tmp_path, "a", 1)
    output = tmp_path / "half.safetensors"
    soup.main(["-o", str(output), f"1={first}", "--half-precision", "--threads", "1"])
    original, _ = load_model(first)
    half, card = load_model(output)
    assert output.stat().st_size < 0.7 * first.stat().st_size
    assert card.metrics["soup"]["parameters_dtype"] == "float16"
    parameters = dict(original.named_parameters())
    for key, value in half.state_dict().items():
        assert value.dtype == original.state_dict()[key].dtype  # loaded back as float32
        if key in parameters:  # rounded to float16, within 2**-11 relative
            expected = parameters[key].detach().to(torch.float16).float()
            assert torch.equal(value, expected)
        else:  # batch-norm statistics stored as they were
            assert torch.equal(value, original.state_dict()[key])
    changed = [k for k in parameters if not torch.equal(half.state_dict()[k], parameters[k])]
    assert changed  # the rounding did happen
