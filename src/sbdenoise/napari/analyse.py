"""What the widget computes for one frame, without napari: denoise, judge, and keep for probing.

:func:`analyse_frame` denoises with :func:`sbdenoise.denoise.api.denoise_micrograph` (what
``sbdenoise denoise`` runs) and judges every candidate column with
:func:`sbdenoise.analysis.trust.judge_frame` (what ``sbdenoise likelihood`` runs). It runs off the
GUI thread in the widget, so it must not touch napari.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sbdenoise.analysis.pixel_filter import PixelFilter, pixel_filter
from sbdenoise.analysis.trust import DEFAULT_FDR, FrameVerdicts, judge_frame
from sbdenoise.denoise.api import DenoiseResult, denoise_micrograph
from sbdenoise.denoise.registry import PreparedMethod, get_method, prepare
from sbdenoise.io import Micrograph
from sbdenoise.noise.counts import prepare_counts

__all__ = ["FrameAnalysis", "Verdicts", "analyse_frame"]

#: How the candidates are judged: calibrated on simulated vacuum (as ``sbdenoise likelihood``),
#: the papers' fixed thresholds, or not at all.
Verdicts = Literal["calibrated", "thresholds", "none"]


@dataclass
class FrameAnalysis:
    """A denoised frame, the verdicts on its candidate columns and what is needed to probe it.

    Attributes
    ----------
    counts : numpy.ndarray
        The noisy frame as electron counts (after the counts check), ``(y, x)``.
    result : DenoiseResult
        What :func:`denoise_micrograph` returned (the denoised frame keeps the calibration).
    verdicts : FrameVerdicts or None
        Every candidate judged, or None when not asked for or impossible (no pixel size).
    prepared : PreparedMethod
        The method, prepared once (its network, for ``sbd``, answers clicks).
    notes : list of str
        Sentences for the user (what was skipped and why, dose warnings).
    """

    counts: np.ndarray
    result: DenoiseResult
    verdicts: FrameVerdicts | None
    prepared: PreparedMethod
    notes: list[str] = field(default_factory=list)

    @property
    def denoised(self) -> np.ndarray:
        """The denoised frame, expected e-/px."""
        return np.asarray(self.result.denoised.data)

    @property
    def pixel_size(self) -> float | None:
        """Angstrom per pixel (None when unknown)."""
        return self.result.denoised.pixel_size

    @property
    def has_network(self) -> bool:
        """True when the method runs a trained network whose filter can be shown."""
        return self.prepared.network is not None and self.prepared.card is not None

    def probe(self, pixel: tuple[int, int]) -> PixelFilter:
        """The network's equivalent linear filter at ``pixel`` (``(row, col)`` of the frame).

        Raises
        ------
        ValueError
            For a method without a trained network, or a frame without a pixel size.
        """
        if not self.has_network:
            raise ValueError(
                f"{self.prepared.name!r} is not a trained network: an equivalent linear filter "
                "is shown for the sbd method only"
            )
        if self.pixel_size is None:
            raise ValueError("the frame has no pixel size, so the working grid is unknown")
        return pixel_filter(
            self.prepared.network,
            self.prepared.card,
            self.counts,
            self.pixel_size,
            pixel,
            int(self.prepared.params.get("ensemble", 1)),
        )

    def summary(self) -> str:
        """A few sentences: what was denoised and how, and the verdicts."""
        parts = [self.result.describe()]
        if self.verdicts is not None:
            parts.append(self.verdicts.summary())
        return " ".join([*parts, *self.notes])


def analyse_frame(
    frame: np.ndarray,
    pixel_size: float | None,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    model: str | Path | None = None,
    verdicts: Verdicts = "calibrated",
    fdr: float = DEFAULT_FDR,
    assume_counts: bool = False,
    source: str | Path | None = None,
) -> FrameAnalysis:
    """Denoise one frame with a registry method and judge every candidate column.

    Parameters
    ----------
    frame : numpy.ndarray
        One frame ``(y, x)``, electron counts per pixel.
    pixel_size : float or None
        Angstrom per pixel (None: unknown; verdicts and methods that need it are refused).
    method : str
        Registry name (``sbdenoise methods``).
    params : Mapping, optional
        Method parameters overriding its defaults.
    model : str or Path, optional
        Model file of the ``sbd`` method (default: the shipped one).
    verdicts : {"calibrated", "thresholds", "none"}
        How candidates are judged. Methods that train on their input cannot be calibrated; they
        get the thresholds, with a note.
    fdr : float
        False discovery rate of calibrated verdicts.
    assume_counts : bool
        Take the values as counts without the counts check.
    source : str or Path, optional
        Where the frame came from, for messages.

    Returns
    -------
    FrameAnalysis
    """
    data = np.asarray(frame)
    if data.ndim != 2:
        raise ValueError(f"one frame (y, x) is analysed at a time, got shape {data.shape}")
    source_path = None if source is None else Path(source)
    micrograph = Micrograph(data, pixel_size=pixel_size, source=source_path)
    result = denoise_micrograph(
        micrograph,
        method,
        params,
        model=model,
        assume_counts=assume_counts,
        show_progress=False,
    )
    counts = prepare_counts(data, source_path, assume_counts=assume_counts)
    prepared = prepare(method, params, model=model, source=source_path)
    notes: list[str] = []
    judged = None
    mode = verdicts
    if mode == "calibrated" and get_method(method).trains_on_input:
        notes.append(
            f"{method} trains on its input, so its verdicts cannot be calibrated on simulated "
            "vacuum: the papers' fixed thresholds are used instead."
        )
        mode = "thresholds"
    if mode != "none" and pixel_size is None:
        notes.append("No pixel size: candidates were not judged (give the pixel size in Å).")
    elif mode != "none":
        judged = judge_frame(
            counts,
            np.asarray(result.denoised.data, dtype=np.float64),
            float(pixel_size),
            method=prepared,
            verdicts=mode,
            fdr=fdr,
            show_progress=False,
        )
        notes.extend(judged.notes)
    return FrameAnalysis(counts, result, judged, prepared, notes)
