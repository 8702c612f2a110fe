"""Denoise a micrograph or a file with a named method: the one path the CLI and the API share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.io import Micrograph, read_image, write_image
from sbdenoise.noise.counts import counts_to_detector, prepare_counts
from sbdenoise.pretrained import shipped_model_path
from sbdenoise.progress import progress_bar

#: Used when no method is named and no trained model ships: the best classical method in
#: benchmarks/results/baselines.md.
BEST_CLASSICAL_METHOD = "vst-bm3d"


def default_method() -> str:
    """``"sbd"`` when a trained model ships with the package, else the best classical method."""
    return SBD_METHOD if shipped_model_path() is not None else BEST_CLASSICAL_METHOD


DEFAULT_METHOD = default_method()


@dataclass
class DenoiseResult:
    """A denoised micrograph and an account of what was done.

    Attributes
    ----------
    denoised : Micrograph
        Denoised image or stack, in the units of the input, with the input's calibration.
    method : str
        Name of the method.
    params : dict
        Parameters used (defaults filled in).
    seconds : float
        Wall time of the denoising itself, in seconds.
    conversion : str
        How input values were turned into counts (``"counts"``, ``"assumed counts"`` or the gain
        and offset).
    output_path : Path or None
        Where the result was written, if it was.
    """

    denoised: Micrograph
    method: str
    params: dict[str, Any]
    seconds: float
    conversion: str
    output_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A short paragraph saying what was done."""
        mic = self.denoised
        frames = f"{mic.n_frames} frames of " if mic.is_stack else ""
        size = f"{mic.frame_shape[0]}x{mic.frame_shape[1]}"
        pixel = "unknown pixel size" if mic.pixel_size is None else f"{mic.pixel_size:.5g} A/px"
        params = ", ".join(f"{k}={v}" for k, v in self.params.items()) or "no parameters"
        text = (
            f"Denoised {frames}{size} px ({pixel}) with {self.method} ({params}) "
            f"in {self.seconds:.2f} s; input values: {self.conversion}."
        )
        if self.output_path is not None:
            text += f" Wrote {self.output_path}."
        return " ".join([text, *self.notes])


def denoise_micrograph(
    micrograph: Micrograph,
    method: str = DEFAULT_METHOD,
    params: dict[str, Any] | None = None,
    *,
    pixel_size: float | None = None,
    gain: float | None = None,
    offset: float | None = None,
    assume_counts: bool = False,
    show_progress: bool = True,
    model: str | Path | None = None,
) -> DenoiseResult:
    """Denoise a frame or a stack with any method of the registry.

    The method is prepared once (parameters checked, model loaded); frame-by-frame methods then
    see the frames of a stack one at a time, methods that need a stack see it whole.

    Parameters
    ----------
    micrograph : Micrograph
        The input, as read by :func:`sbdenoise.io.read_image`.
    method : str
        Method name (see ``sbdenoise methods``).
    params : dict, optional
        Method parameters overriding its defaults.
    pixel_size : float, optional
        Pixel size in angstrom, overriding the file's calibration.
    gain, offset : float, optional
        Detector units per electron and dark level, to convert detector units to counts.
    assume_counts : bool
        Use the values as counts without checking.
    show_progress : bool
        Show a progress bar over the frames of a stack.
    model : str or Path, optional
        Model file for network methods (default: the shipped model).

    Returns
    -------
    DenoiseResult
    """
    source = micrograph.source
    prepared = prepare(method, params, model=model, source=source)
    # checked before the counts are converted, so a bad request costs nothing
    pixel = prepared.check_input(
        micrograph.pixel_size if pixel_size is None else pixel_size, micrograph.is_stack, source
    )

    counts = prepare_counts(
        micrograph.data, source, gain=gain, offset=offset, assume_counts=assume_counts
    )
    if gain is not None or offset is not None:
        conversion = f"detector units converted with gain {gain or 1.0} and offset {offset or 0.0}"
    else:
        conversion = "assumed counts" if assume_counts else "electron counts (checked)"

    start = time.perf_counter()
    if not micrograph.is_stack:
        denoised = prepared.denoise_frame(counts, pixel, source)
    else:
        denoised = np.empty(counts.shape, dtype=np.float32)
        frames = prepared.denoise_stack(counts, pixel, source)
        total = counts.shape[0] if prepared.streams else None
        for i, frame in enumerate(progress_bar(frames, method, show_progress, total=total)):
            denoised[i] = frame
    seconds = time.perf_counter() - start

    if gain is not None or offset is not None:
        denoised = counts_to_detector(denoised, gain or 1.0, offset or 0.0)
    metadata = {
        **micrograph.metadata,
        "sbdenoise": {"method": method, "params": prepared.params, "input_values": conversion},
    }
    result = micrograph.with_data(
        np.asarray(denoised, dtype=np.float32), pixel_size=pixel, metadata=metadata
    )
    notes = []
    if prepared.card is not None:
        notes = dose_notes(counts, prepared.card, pixel) + field_notes(
            counts.shape[-2:], prepared.card, pixel, prepared.params.get("field")
        )
    return DenoiseResult(result, method, prepared.params, seconds, conversion, notes=notes)


#: Relative distance of a frame's mean count outside a model's training doses above which
#: ``denoise`` warns: the single-dose UNet of version 1 lost 7 dB at 0.67x and 13 dB at 1.33x its
#: dose (benchmarks/results/table1.md), while simulated frames have a mean within 2 % of the dose.
DOSE_TOLERANCE = 0.15


def dose_notes(counts: np.ndarray, card: Any, pixel_size: float | None) -> list[str]:
    """A warning when the frame's mean count is outside the doses the network was trained for.

    HRTEM phase contrast moves electrons around but keeps their number, so the mean count of a
    frame is its vacuum dose to within a few percent. The comparison is made per working pixel
    (what the network sees), so a pixel size that needs another binning is accounted for.

    Parameters
    ----------
    counts : numpy.ndarray
        Frame or stack in electron counts per pixel.
    card : ModelCard
        The model's card.
    pixel_size : float or None
        Pixel size of the frame, angstrom (None: no check).

    Returns
    -------
    list of str
        Empty, or one warning sentence.
    """
    from sbdenoise.nn.sampling import input_pixels_per_working_pixel

    if pixel_size is None:
        return []
    area = input_pixels_per_working_pixel(pixel_size, card.sampling)
    low, high = card.dose_range_working
    mean = float(np.mean(counts))
    working = mean * area
    if low * (1.0 - DOSE_TOLERANCE) <= working <= high * (1.0 + DOSE_TOLERANCE):
        return []
    per_area = mean / pixel_size**2
    if low == high:
        trained = low / area
        return [
            f"WARNING: the mean count {mean:.3g} e-/px is {working / low:.2f}x the dose the model "
            f"was trained at ({trained:.3g} e-/px); this network is "
            "dose-specific and can lose more than 6 dB away from it: check the result or use a "
            "model trained for this dose."
        ]
    area_low, area_high = low / card.sampling**2, high / card.sampling**2
    return [
        f"WARNING: the frame's dose, {per_area:.3g} e-/A^2 ({mean:.3g} e-/px), is outside the "
        f"doses the model was trained for ({area_low:.3g}-{area_high:.3g} e-/A^2): check the "
        "result or use a model trained for this dose."
    ]


def field_notes(
    frame_shape: tuple[int, ...], card: Any, pixel_size: float | None, field: Any
) -> list[str]:
    """A note when the whole frame is wider than the field the network was trained on.

    A network whose receptive field is wider than its training crops sees, on a wider frame in
    one piece, fields it never saw in training: v13 (128 px crops) drew phantom particles in pure
    vacuum about 4x more often at 1024 px than in tiles of its training field; v14 (256 px) far
    less (``benchmarks/results/vacuum_frame_size.md``). The note names the option that tiles.

    Parameters
    ----------
    frame_shape : tuple of int
        ``(y, x)`` of one frame, input pixels.
    card : ModelCard
        The model's card (its ``training_data["crop_px"]``, when recorded).
    pixel_size : float or None
        Pixel size of the frame, angstrom (None: no note).
    field : int, str or None
        The ``field`` the method ran with (a note only when it is None: the whole frame).

    Returns
    -------
    list of str
        Empty, or one sentence.
    """
    from sbdenoise.nn.sampling import input_pixels_per_working_pixel

    crop = card.training_data.get("crop_px")
    if field is not None or pixel_size is None or not crop:
        return []
    per_side = input_pixels_per_working_pixel(pixel_size, card.sampling) ** 0.5
    working = [round(side / per_side) for side in frame_shape]
    if max(working) <= int(crop):
        return []
    return [
        f"NOTE: the frame is {working[0]}x{working[1]} px on the network's grid, wider than the "
        f"{crop} px crops it was trained on; in one piece the network sees fields it was not "
        "trained on, where networks have drawn phantom columns in vacuum "
        "(benchmarks/results/vacuum_frame_size.md). '--param field=training' denoises in tiles "
        'of the training field (field="training" in Python).'
    ]


def denoise_file(
    input_path: str | Path,
    output_path: str | Path,
    method: str = DEFAULT_METHOD,
    params: dict[str, Any] | None = None,
    **options: Any,
) -> DenoiseResult:
    """Read a file, denoise it with :func:`denoise_micrograph` and write the result atomically.

    The output path must differ from the input; its suffix chooses the format. ``options`` are
    the keyword options of :func:`denoise_micrograph` (pixel_size, gain, offset, assume_counts,
    show_progress, model).
    """
    input_path, output_path = Path(input_path), Path(output_path)
    micrograph = read_image(input_path)
    result = denoise_micrograph(micrograph, method, params, **options)
    result.output_path = write_image(result.denoised, output_path, inputs=(input_path,))
    return result
