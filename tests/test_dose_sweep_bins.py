"""The dose sweep's VST+BM3D floor: the best bin factor per dose counts, not only the tuned one."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def dose_sweep(benchmark_module):
    return benchmark_module("dose_sweep")


def _row(method: str, dose: float, value: float, pixel_set: str = "p") -> dict:
    return {
        "pixel_set": pixel_set,
        "pixel_size_A": 0.06,
        "dose_e_per_px": dose,
        "dose_e_per_A2": dose / 0.0036,
        "method": method,
        "n_images": 2,
        "psnr": value,
        "psnr_dose_normalised": value,
        "psnr_dose_normalised_std": 0.1,
    }


def _rows(dose_sweep) -> list[dict]:
    variant = dose_sweep.BIN_VARIANT
    return [
        _row("raw", 0.1, -3.0),
        _row("vst-bm3d", 0.1, 28.0),
        _row(f"{variant}12", 0.1, 29.7),  # coarser binning wins at low dose
        _row(f"{variant}4", 0.1, 25.0),
        _row("shipped", 0.1, 30.5),
        _row("raw", 1.0, 7.0),
        _row("vst-bm3d", 1.0, 37.2),  # the tuned bin stays best at high dose
        _row(f"{variant}12", 1.0, 36.0),
        _row(f"{variant}4", 1.0, 36.9),
        _row("shipped", 1.0, 37.7),
    ]


def test_the_best_bin_is_chosen_per_dose_and_the_variants_dropped(dose_sweep):
    rows = dose_sweep.best_bin_rows(_rows(dose_sweep), main_bin=8)
    assert not any(r["method"].startswith(dose_sweep.BIN_VARIANT) for r in rows)
    best = {r["dose_e_per_px"]: r for r in rows if r["method"] == dose_sweep.BEST_BIN}
    assert (best[0.1]["bin_factor"], best[0.1]["psnr_dose_normalised"]) == (12, 29.7)
    assert (best[1.0]["bin_factor"], best[1.0]["psnr_dose_normalised"]) == (8, 37.2)


def _result(dose_sweep, **extra) -> dict:
    """A dose sweep result of two doses with a gate of VST+BM3D and the shipped model."""
    gate = {"n_images": 2, "rows": {}}
    for name in ("vst-bm3d", "shipped"):
        gate["rows"][name] = {"psnr": 35, "psnr_std": 1, "ssim": 0.98, "seconds_per_image": 1}
    return {
        "machine": {"processor": "x86_64", "usable_cpus": 2},
        "command": "dose_sweep.py",
        "total_seconds": 60.0,
        "dataset": "d",
        "gate": gate,
        "doses": [0.1, 1.0],
        "sweep": dose_sweep.best_bin_rows(_rows(dose_sweep), main_bin=8),
        **extra,
    }


def test_the_gap_counts_against_the_better_bm3d(dose_sweep):
    text = dose_sweep.markdown(_result(dose_sweep))
    assert "| 0.1 | 28 | -3.00 | 28.00 | 30.50 | 29.70 (b=12) | +0.80 |" in text
    assert "| 1 | 278 | 7.00 | 37.20 | 37.70 | 37.20 (b=8) | +0.50 |" in text


def test_variants_skip_the_tuned_bin(dose_sweep):
    variants = dose_sweep.bm3d_bin_variants([4, 8, 12], {"sigma": 1.0, "bin_factor": 8})
    assert sorted(variants) == [f"{dose_sweep.BIN_VARIANT}12", f"{dose_sweep.BIN_VARIANT}4"]
    assert variants[f"{dose_sweep.BIN_VARIANT}12"].params["bin_factor"] == 12
    assert variants[f"{dose_sweep.BIN_VARIANT}12"].params["sigma"] == 1.0


def test_the_wide_vacuum_check_is_reported_beside_the_gate(dose_sweep):
    class Flat:  # a "denoiser" that draws the same two bumps into every vacuum frame
        @staticmethod
        def denoise_frame(counts, pixel_size):
            import numpy as np

            out = np.full(counts.shape, 0.45)
            for y, x in ((40, 40), (90, 140)):
                out[y - 3 : y + 4, x - 3 : x + 4] += 0.2
            return out

    wide = dose_sweep.vacuum_check({"vst-bm3d": None, "bumps": Flat()}, frames=3, side=256)
    assert set(wide["rows"]) == {"bumps"}  # VST+BM3D is not a network: not checked
    row = wide["rows"]["bumps"]
    assert (row["total"], row["frames_with_candidates"]) == (6, 3)
    assert row["per_mpx"] == pytest.approx(6 / (3 * 256**2 / 1e6))
    text = dose_sweep.markdown(_result(dose_sweep, vacuum_wide=wide))
    assert "The same in 3 frames of 256 px" in text
    assert f"bumps {row['per_mpx']:.1f} per Mpx, 3 of 3 frames" in text
