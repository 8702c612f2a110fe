"""A model for the user's own microscope in one command: :func:`run_fit` (``sbdenoise fit``)."""

from sbdenoise.fitting.pipeline import STAGES, FitResult, estimate_seconds, run_fit
from sbdenoise.fitting.spec import EvaluationOptions, FitSpec, SurfaceNullOptions

__all__ = [
    "STAGES",
    "EvaluationOptions",
    "FitResult",
    "FitSpec",
    "SurfaceNullOptions",
    "estimate_seconds",
    "run_fit",
]
