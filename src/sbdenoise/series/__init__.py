"""In-situ series: drift, per-frame denoising and verdicts, tracked surface columns, report.

The public entry point is :func:`run_series` (also ``sbdenoise series MOVIE -o DIR``);
:func:`simulated_series` makes a series with known truth for tests and the demo.
"""

from sbdenoise.series.drift import common_window, estimate_drift
from sbdenoise.series.events import ColumnEvent, SiteEvidence
from sbdenoise.series.pipeline import ProfileAgreement, SeriesResult, run_series
from sbdenoise.series.simulated import SimulatedSeries, simulated_series

__all__ = [
    "ColumnEvent",
    "ProfileAgreement",
    "SeriesResult",
    "SimulatedSeries",
    "SiteEvidence",
    "common_window",
    "estimate_drift",
    "run_series",
    "simulated_series",
]
