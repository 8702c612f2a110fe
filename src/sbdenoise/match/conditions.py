"""Simulated conditions: images grouped by the values of some dataset parameters, and ranked.

A *condition* is one combination of values of the chosen parameters (by default defocus and
contrast class). Its score aggregates the scores of its images: by default the best one, since
the images of a condition differ in structures (particle, defects, support) of which the user's
specimen matches at most a few; ``"mean"`` asks how well the condition does on average.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sbdenoise.errors import InputError

#: Parameters the conditions are made of unless the caller chooses others.
DEFAULT_BY = ("defocus_nm", "contrast")
#: Parameters whose matched values a training spec's filters can express: name in the dataset ->
#: (name in :class:`sbdenoise.training.spec.Filters`, kind).
FILTERABLE = {
    "contrast": ("contrast", "set"),
    "defect": ("defect", "set"),
    "defocus_nm": ("defocus_nm", "range"),
    "support_thickness_nm": ("support_thickness_nm", "range"),
}

Aggregate = Literal["best", "mean"]


@dataclass(frozen=True)
class ConditionScore:
    """How well one simulated condition explains the observed counts.

    Attributes
    ----------
    values : dict
        The condition, parameter name -> value, e.g. ``{"defocus_nm": -10.0, "contrast": "white"}``.
    loglik : float
        Aggregated Poisson log-likelihood of its images, nats.
    delta : float
        ``loglik`` minus that of the best condition, nats (0 for the best, negative otherwise).
    deviance_per_px : float
        Poisson deviance per pixel of its best image (about 1: explained up to shot noise).
    n_images : int
        Images of the dataset with this condition.
    best_index : int
        Dataset index of its best image.
    """

    values: Mapping[str, Any]
    loglik: float
    delta: float
    deviance_per_px: float
    n_images: int
    best_index: int

    def label(self) -> str:
        """The condition in words, e.g. ``defocus -10 nm, white``."""
        parts = []
        for key, value in self.values.items():
            if key == "defocus_nm":
                parts.append(f"defocus {value:g} nm")
            elif key.endswith("_nm"):
                parts.append(f"{key.removesuffix('_nm').replace('_', ' ')} {value:g} nm")
            elif isinstance(value, float):
                parts.append(f"{key} {value:g}")
            else:
                parts.append(str(value))
        return ", ".join(parts)


def check_fields(params: Mapping[str, np.ndarray], by: Sequence[str]) -> tuple[str, ...]:
    """The condition fields, checked against the dataset's parameters."""
    by = tuple(by)
    if not by:
        raise InputError("give at least one parameter to group the simulations by")
    missing = [name for name in by if name not in params]
    if missing:
        raise InputError(
            f"the dataset records no {', '.join(map(repr, missing))} per image; "
            f"it has: {', '.join(sorted(params))}"
        )
    return by


def _key(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return round(value, 6) if isinstance(value, float) else value


def rank_conditions(
    params: Mapping[str, np.ndarray],
    indices: np.ndarray,
    logliks: np.ndarray,
    deviances: np.ndarray,
    by: Sequence[str],
    aggregate: Aggregate = "best",
) -> list[ConditionScore]:
    """Group scored images into conditions and rank them, best first.

    Parameters
    ----------
    params : mapping
        Dataset parameters, one array over all images per name.
    indices : numpy.ndarray
        Dataset indices of the scored images.
    logliks, deviances : numpy.ndarray
        Their log-likelihoods (nats) and deviances per pixel.
    by : sequence of str
        Parameters that define a condition.
    aggregate : {"best", "mean"}
        Score of a condition: its best image's or the mean over its images.

    Returns
    -------
    list of ConditionScore
    """
    if aggregate not in ("best", "mean"):
        raise InputError(f"aggregate must be 'best' or 'mean', got {aggregate!r}")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for k, index in enumerate(indices):
        key = tuple(_key(params[name][index]) for name in by)
        groups.setdefault(key, []).append(k)
    scored = []
    for key, members in groups.items():
        members_ll = logliks[members]
        best = members[int(np.argmax(members_ll))]
        value = float(members_ll.max() if aggregate == "best" else members_ll.mean())
        scored.append((value, key, best, len(members)))
    top = max(s[0] for s in scored)
    ranked = [
        ConditionScore(
            values=dict(zip(by, key, strict=True)),
            loglik=value,
            delta=value - top,
            deviance_per_px=float(deviances[best]),
            n_images=n,
            best_index=int(indices[best]),
        )
        for value, key, best, n in scored
    ]
    return sorted(ranked, key=lambda c: -c.loglik)


def subset_filters(conditions: Sequence[ConditionScore]) -> tuple[dict[str, Any], list[str]]:
    """Training filters that select the images of the given conditions.

    Set-valued parameters (contrast, defect) become lists of the values seen; numeric ones
    (defocus, support thickness) become the range ``[low, high]`` they span, bounds included.

    Returns
    -------
    tuple
        ``(filters, ignored)``: a dict for :class:`sbdenoise.training.spec.Filters`, and the
        condition parameters a filter cannot express (they do not restrict training).
    """
    if not conditions:
        raise InputError("no conditions to select")
    filters: dict[str, Any] = {}
    ignored = []
    for name in conditions[0].values:
        if name not in FILTERABLE:
            ignored.append(name)
            continue
        field, kind = FILTERABLE[name]
        values = [c.values[name] for c in conditions]
        if kind == "set":
            filters[field] = sorted({str(v) for v in values})
        else:
            filters[field] = [float(min(values)), float(max(values))]
    return filters, ignored
