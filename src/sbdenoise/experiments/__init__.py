"""Studies that train and test several networks: the papers' generalisation study."""

from __future__ import annotations

from sbdenoise.experiments.generalization import (
    DEFAULT_FAMILIES,
    FAMILIES,
    GeneralizationResult,
    Subset,
    plan_subsets,
    run_generalization,
)

__all__ = [
    "DEFAULT_FAMILIES",
    "FAMILIES",
    "GeneralizationResult",
    "Subset",
    "plan_subsets",
    "run_generalization",
]
