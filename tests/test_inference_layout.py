"""The inference benchmark times what `sbdenoise denoise` runs, and says whether it meets 50 ms."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def layout(benchmark_module):
    return benchmark_module("inference_layout")


def test_bf16_is_timed_only_where_the_cpu_has_it(layout, monkeypatch):
    monkeypatch.setattr(layout, "resolve_precision", lambda precision, device: "fp32")
    assert layout.BF16_NAME not in layout.configurations()
    monkeypatch.setattr(layout, "resolve_precision", lambda precision, device: "bf16")
    chosen = layout.configurations()
    assert chosen[layout.BF16_NAME] == (torch.channels_last, True, "bf16")
    assert all(chosen[name][2] == "fp32" for name in layout.FP32_CONFIGURATIONS)


def _result(layout, default_ms: float) -> dict:
    names = {**{name: "fp32" for name in layout.FP32_CONFIGURATIONS}, layout.BF16_NAME: "bf16"}
    ms = {name: 100.0 for name in names} | {layout.BF16_NAME: default_ms}
    return {
        "command": "inference_layout.py",
        "machine": {"platform": "test", "cpus": 2},
        "cpu": "test CPU",
        "seconds": 1.0,
        "size": 1024,
        "frames": 3,
        "configurations": names,
        "default": layout.BF16_NAME,
        "target_ms": 50.0,
        "end_to_end": {
            "ms_per_frame": ms,
            "ms_per_frame_10_90": {name: [value - 2.0, value + 5.0] for name, value in ms.items()},
            "max_difference_e_per_px": dict.fromkeys(names, 0.0),
        },
        "network_ms": {"256": {name: 10.0 for name in names}},
        "convolution_gflop": {"256": 2.0},
        "compiled_256": {"bf16": {"ms": 8.0, "compile_s": 9.0}},
    }


@pytest.mark.parametrize(("default_ms", "verdict"), [(38.0, "(met)"), (62.0, "(not met)")])
def test_the_report_judges_the_default_against_the_target(layout, monkeypatch, default_ms, verdict):
    monkeypatch.setattr(layout, "machine_line", lambda machine: "Machine: test.")
    text = layout.markdown(_result(layout, default_ms))
    assert f"{default_ms:.0f} ms per frame, against the target of 50 ms {verdict}" in text
    spread = f"{default_ms - 2:.0f}-{default_ms + 5:.0f}"
    assert (
        f"| {layout.BF16_NAME} | {default_ms:.0f} | {spread} | {100.0 / default_ms:.2f}x |" in text
    )
    assert "- bf16: 8.0 ms per pass after 9 s of compilation (against 10.0 ms eager)." in text
    assert f"hold 2.0 GFLOP per pass; {layout.BF16_NAME} runs them at 200 GFLOP/s." in text
    assert "asks for at least 40 GFLOP/s" in text


def test_convolution_operations_are_counted_per_weight_and_output_pixel(layout):
    """Two operations per weight per output pixel: a 3x3 convolution from 1 to 8 channels and a
    strided 1x1 from 8 to 4 channels on a 10 px frame."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1, stride=2)
    )
    expected = 2 * (8 * 10 * 10 * 1 * 9 + 4 * 5 * 5 * 8 * 1)
    assert layout.convolution_gflop(model, 10) == pytest.approx(expected / 1e9)
    assert not model[0]._forward_hooks
