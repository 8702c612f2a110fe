"""Mixed precision: detection of bf16 hardware, and bf16 training keeps fp32 weights."""

from __future__ import annotations

import csv

import pytest
import torch

from sbdenoise.nn.model_file import load_model
from sbdenoise.training import run_folder, train
from sbdenoise.training.precision import cpu_has_bf16, resolve_precision
from sbdenoise.training.trainer import LOG_NAME


def test_cpu_flags_decide_bf16(tmp_path):
    with_bf16 = tmp_path / "with"
    with_bf16.write_text("processor : 0\nflags : fpu sse2 avx512f avx512_bf16 amx_tile\n")
    without = tmp_path / "without"
    without.write_text("processor : 0\nflags : fpu sse2 avx2\n")
    assert cpu_has_bf16(with_bf16) is True
    assert cpu_has_bf16(without) is False
    assert cpu_has_bf16(tmp_path / "missing") is False


def test_resolve_precision_keeps_explicit_choices():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_has_bf16() else "fp32")
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision("fp16", cpu)


def test_bf16_training_learns_and_saves_fp32_weights(range_spec, tmp_path):
    # with the dose-weighted loss of the campaign (crops weighted by their dose)
    spec = range_spec.model_copy(
        update={
            "precision": "bf16",
            "steps": 40,
            "validate_every": 40,
            "log_every": 10,
            "loss_weighting": "dose",
        }
    )
    result = train(spec, tmp_path / "m", show_progress=False, threads=1)
    assert result.step == 40
    with open(run_folder(tmp_path / "m") / LOG_NAME, newline="") as handle:
        losses = [float(row["train_loss"]) for row in csv.DictReader(handle)]
    assert losses[-1] < 0.8 * losses[0]
    network, card = load_model(result.model_path)
    assert all(p.dtype == torch.float32 for p in network.parameters())
    assert card.normalization == "frame_mean"
    assert card.dose_range_per_area == (40.0, 400.0)
