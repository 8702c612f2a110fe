"""Electron counts or detector units? Check before denoising, convert when told how.

Every denoiser here assumes Poisson electron counts per pixel. Files from real microscopes are
often in detector units (a dark offset of thousands, a gain of several units per electron, read
noise); treating those as counts would make the Poisson models meaningless. :func:`assess_counts`
says what it sees; :func:`prepare_counts` refuses detector units unless the user passes a gain and
offset (converted here) or explicitly assumes counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sbdenoise.errors import InputError, NotCountsError
from sbdenoise.noise.check import NoiseEstimate, estimate_noise

#: Below this noise variance (e-/px) a Poisson frame must contain zeros.
LOW_DOSE_MEAN = 3.0


@dataclass
class CountsAssessment:
    """What the values of an image look like.

    Attributes
    ----------
    looks_like_counts : bool
        True when the values are plausible Poisson electron counts.
    integer_valued : bool
        Every value is a whole number.
    minimum, maximum, mean : float
        Value range and mean, in file units.
    negative_fraction : float
        Fraction of pixels below zero.
    noise : NoiseEstimate or None
        Gain, offset and dispersion estimate (None if it could not be made).
    reasons : list of str
        Why the values do not look like counts (empty when they do).
    """

    looks_like_counts: bool
    integer_valued: bool
    minimum: float
    maximum: float
    mean: float
    negative_fraction: float
    noise: NoiseEstimate | None
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for ``sbdenoise info`` and error messages."""
        head = (
            "electron counts" if self.looks_like_counts else "detector units, not electron counts"
        )
        seen = (
            f"values {self.minimum:.6g} to {self.maximum:.6g}, mean {self.mean:.4g}, "
            f"{'integers' if self.integer_valued else 'non-integer values'}"
        )
        if self.noise is not None:
            seen += f", variance/mean {self.noise.dispersion:.3g}"
            if not self.noise.fit_from_one_level:
                seen += f", gain {self.noise.gain:.3g}, offset {self.noise.offset:.4g}"
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return f"{head}: {seen}{why}"


#: Standard errors below its Poisson lower bound at which a zero fraction is impossible.
ZERO_FRACTION_SIGMAS = 6.0


def quantisation_step(values: np.ndarray) -> float:
    """Greatest common step between the distinct whole-number values (1 for electron counts).

    Parameters
    ----------
    values : numpy.ndarray
        Whole-number pixel values (any shape).

    Returns
    -------
    float
        The step, or 1 when fewer than two distinct values exist.
    """
    distinct = np.unique(np.asarray(values, dtype=np.float64))
    if distinct.size < 2 or distinct.size > 1_000_000:
        return 1.0
    differences = np.diff(distinct)
    if np.any(differences != np.round(differences)) or differences.max() > 2**62:
        return 1.0
    return float(np.gcd.reduce(differences.astype(np.int64)))


def zero_fraction_deficit(values: np.ndarray) -> tuple[float, float] | None:
    """The zero fraction when it is impossibly low for Poisson counts at the values' mean.

    For Poisson counts with expectations ``mu_i`` the expected fraction of zeros is the mean of
    ``exp(-mu_i)``, which by Jensen's inequality is at least ``exp(-mean(mu))`` whatever the image
    shows. A fraction more than :data:`ZERO_FRACTION_SIGMAS` binomial standard errors below that
    bound cannot come from counts: the data carry an offset, or a gain above 1 with read noise.

    Parameters
    ----------
    values : numpy.ndarray
        Pixel values (any shape).

    Returns
    -------
    tuple of float or None
        ``(observed, lower_bound)`` when the fraction is impossible, else None.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return None
    mean = float(flat.mean())
    if mean <= 0:
        return None
    bound = float(np.exp(-mean))
    sigma = float(np.sqrt(bound * (1.0 - bound) / flat.size))
    observed = float(np.mean(flat == 0))
    if observed < bound - ZERO_FRACTION_SIGMAS * sigma - 1e-3:
        return observed, bound
    return None


def assess_counts(data: np.ndarray) -> CountsAssessment:
    """Decide whether an image or stack looks like Poisson electron counts.

    The values must be non-negative whole numbers in steps of 1 (:func:`quantisation_step`), a
    low-dose frame must contain zeros, at least as many as Poisson counts at its mean can have
    (:func:`zero_fraction_deficit`: this catches an offset even when gain and read noise happen to
    give a variance/mean near 1), and the noise variance must equal the mean (gain 1, offset 0)
    within :data:`~sbdenoise.noise.check.POISSON_DISPERSION_RANGE`.

    Parameters
    ----------
    data : numpy.ndarray
        A frame ``(y, x)`` or stack ``(frames, y, x)`` with finite values.

    Returns
    -------
    CountsAssessment
    """
    values = np.asarray(data)
    sample = values if values.size <= 4_000_000 else values.reshape(-1)[:: values.size // 4_000_000]
    sample = np.asarray(sample, dtype=np.float64)
    minimum, maximum, mean = float(sample.min()), float(sample.max()), float(sample.mean())
    integer_valued = bool(np.issubdtype(values.dtype, np.integer)) or bool(
        np.all(sample == np.round(sample))
    )
    negative_fraction = float(np.mean(sample < 0))
    reasons: list[str] = []
    if negative_fraction > 0:
        reasons.append(f"{negative_fraction:.2%} of pixels are negative (minimum {minimum:.6g})")
    if not integer_valued:
        reasons.append("values are not whole numbers")
    noise: NoiseEstimate | None
    try:
        noise = estimate_noise(values)
    except ValueError:
        noise = None
    # Poisson counts with a low noise variance must include zeros; none at all betrays an offset.
    low_dose_variance = noise.dispersion * noise.vacuum_mean if noise is not None else mean
    if integer_valued and minimum > 0 and 0 < low_dose_variance < LOW_DOSE_MEAN:
        reasons.append(
            f"the noise variance ({low_dose_variance:.3g}) is that of a low dose but no pixel is "
            f"zero: an offset of about {minimum:.4g}?"
        )
    if integer_valued:
        step = quantisation_step(sample)
        if step > 1:
            reasons.append(
                f"values are quantised in steps of {step:g}, not 1: detector units with a gain "
                f"of about {step:g} per electron?"
            )
        zeros = zero_fraction_deficit(sample)
        if zeros is not None:
            observed, least = zeros
            reasons.append(
                f"only {observed:.2%} of pixels are zero where Poisson counts with mean "
                f"{mean:.3g} have at least {least:.2%}: an offset or a gain above 1?"
            )
    if noise is not None and not noise.looks_poisson:
        if noise.fit_from_one_level:
            reasons.append(f"noise variance/mean is {noise.dispersion:.3g}, not 1")
        else:
            reasons.append(
                f"mean-variance fit gives gain {noise.gain:.3g} and offset {noise.offset:.4g}, "
                "not 1 and 0"
            )
    return CountsAssessment(
        looks_like_counts=not reasons,
        integer_valued=integer_valued,
        minimum=minimum,
        maximum=maximum,
        mean=mean,
        negative_fraction=negative_fraction,
        noise=noise,
        reasons=reasons,
    )


def detector_to_counts(data: np.ndarray, gain: float, offset: float = 0.0) -> np.ndarray:
    """Convert detector units to electron counts: ``(data - offset) / gain``.

    Parameters
    ----------
    data : numpy.ndarray
        Detector values.
    gain : float
        Detector units per electron (positive).
    offset : float
        Dark level in detector units.

    Returns
    -------
    numpy.ndarray
        Float32 electron counts per pixel; small negatives from read noise are kept.
    """
    if not gain > 0:
        raise InputError(f"gain must be positive (detector units per electron), got {gain}")
    return ((np.asarray(data, dtype=np.float64) - offset) / gain).astype(np.float32)


def counts_to_detector(counts: np.ndarray, gain: float, offset: float = 0.0) -> np.ndarray:
    """Inverse of :func:`detector_to_counts`: ``counts * gain + offset`` (float32)."""
    return (np.asarray(counts, dtype=np.float64) * gain + offset).astype(np.float32)


def prepare_counts(
    data: np.ndarray,
    source: str | Path | None = None,
    *,
    gain: float | None = None,
    offset: float | None = None,
    assume_counts: bool = False,
) -> np.ndarray:
    """Return electron counts for denoising, or refuse data that are not counts.

    Parameters
    ----------
    data : numpy.ndarray
        A frame or stack as read from a file.
    source : str or Path, optional
        The file, for error messages.
    gain, offset : float, optional
        Detector units per electron and dark level; when either is given the data are converted
        with :func:`detector_to_counts` (gain defaults to 1, offset to 0).
    assume_counts : bool
        Skip the check and use the values as counts.

    Returns
    -------
    numpy.ndarray
        Float32 electron counts.

    Raises
    ------
    NotCountsError
        When the values do not look like counts and no conversion was given. The message says what
        was seen and which options to pass.
    """
    if gain is not None or offset is not None:
        counts = detector_to_counts(data, 1.0 if gain is None else gain, offset or 0.0)
        if float(np.mean(counts < -0.5)) > 0.01:
            raise NotCountsError(
                f"after subtracting offset {offset} and dividing by gain {gain}, "
                f"{np.mean(counts < -0.5):.1%} of pixels are below -0.5 electrons: "
                "the offset is too large",
                source,
            )
        return counts
    if assume_counts:
        return np.asarray(data, dtype=np.float32)
    assessment = assess_counts(data)
    if not assessment.looks_like_counts:
        hint = ""
        if assessment.noise is not None and assessment.noise.conversion_plausible:
            noise = assessment.noise
            hint = f" (the data suggest --gain {noise.gain:.3g} --offset {noise.offset:.4g})"
        raise NotCountsError(
            f"these look like {assessment.summary()}. Denoising needs electron counts per pixel: "
            f"pass --gain and --offset to convert{hint}, or --assume-counts if you know they are "
            "counts. Run 'sbdenoise noise-check' on the file to see the evidence.",
            source,
        )
    return np.asarray(data, dtype=np.float32)
