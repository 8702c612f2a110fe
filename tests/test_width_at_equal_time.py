"""Width at equal CPU time: logs put on one hours axis, gains compared at equal hours."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def width(benchmark_module):
    return benchmark_module("width_at_equal_time")


def _log(path: Path, rows: list[tuple[int, float | None]]) -> Path:
    lines = ["step,train_loss,lr_loss,val_psnr_db,lr,seconds"]
    lines += [f"{s},0.1,0.001,{'' if v is None else v},2.5e-05,1" for s, v in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_runs_are_compared_at_equal_hours_not_equal_steps(width, tmp_path):
    # the narrow run is 4x faster per step and gains 0.01 dB per 100 steps after step 1,000;
    # the wide one gains 0.02 dB per 100 steps: per hour the narrow one is ahead
    narrow = _log(
        tmp_path / "n.csv", [(s, 36.0 + 0.0001 * (s - 1000)) for s in range(0, 3100, 100)]
    )
    wide = _log(
        tmp_path / "w.csv",
        [(s, 36.0 + 0.0002 * s if s % 200 == 0 else None) for s in range(100, 1100, 100)],
    )
    result = width.compare([("narrow", narrow, 1000, 0.25), ("wide", wide, 0, 1.0)], 36.0)
    narrow_curve, wide_curve = result["curves"]
    assert narrow_curve["hours"][0] == pytest.approx(
        100 * 0.25 / 3600
    )  # steps after the start only
    assert wide_curve["hours"] == pytest.approx([s / 3600 for s in (200, 400, 600, 800, 1000)])
    last = result["table"][-1]
    assert last["hours"] == pytest.approx(500 / 3600, abs=1e-3)  # the shorter run's span
    # at 500 s: the narrow run's 2,000 steps gained 0.2 dB, the wide run's 500 steps 0.1 dB
    assert last["gain_db"]["narrow"] == pytest.approx(0.2, abs=1e-3)
    assert last["gain_db"]["wide"] == pytest.approx(0.1, abs=1e-3)
    assert width.gain_at([0.1, 0.2], [1.0, 2.0], 0.3) is None  # beyond the run's end
    with pytest.raises(SystemExit, match="no validation"):
        width.validation_curve(narrow, 5000)
