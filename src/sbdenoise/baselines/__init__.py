"""Classical denoisers for low-dose counted frames, reached by name through a registry.

Every method takes electron counts per pixel and returns expected counts per pixel on the same
grid. See :data:`BASELINES` for the names, :func:`apply_baseline` to run one and
:func:`tune_baseline` to choose its parameters on validation pairs.
"""

from sbdenoise.baselines.fourier import bragg_mask, find_bragg_peaks, low_pass
from sbdenoise.baselines.purelet import pure_let
from sbdenoise.baselines.registry import BASELINES, Baseline, apply_baseline, get_baseline
from sbdenoise.baselines.spatial import adaptive_wiener, bin_counts, gaussian, median, unbin
from sbdenoise.baselines.temporal import time_average
from sbdenoise.baselines.tuning import TuningResult, tune_baseline
from sbdenoise.baselines.vst import vst_bm3d, vst_nlm

__all__ = [
    "BASELINES",
    "Baseline",
    "TuningResult",
    "adaptive_wiener",
    "apply_baseline",
    "bin_counts",
    "bragg_mask",
    "find_bragg_peaks",
    "gaussian",
    "get_baseline",
    "low_pass",
    "median",
    "pure_let",
    "time_average",
    "tune_baseline",
    "unbin",
    "vst_bm3d",
    "vst_nlm",
]
