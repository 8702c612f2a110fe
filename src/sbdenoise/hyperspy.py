"""HyperSpy integration: denoise HyperSpy signals and map the likelihood of what the denoiser shows.

HyperSpy (``pip install 'sbdenoise[hyperspy]'``) reads every microscope format and keeps the
calibration of each axis. :func:`denoise_signal` runs a method of the registry
(:func:`sbdenoise.denoise.api.denoise_micrograph`, the path the ``denoise`` command takes) on a
``Signal2D`` (one frame) or a stack of frames (navigation axes such as time) and returns a new
signal of the same class with the same axes; :func:`likelihood_signal` maps the Poisson
log-likelihood ratio of every column the denoiser shows
(:func:`sbdenoise.analysis.likelihood.column_likelihood`, the values the ``likelihood`` command
reports).

The pixel size is read from the signal axes in any length unit (nm, Å, pm, µm and the vendors'
spellings, see :func:`sbdenoise.io.units.length_to_angstrom`) unless given. Values must be electron
counts per pixel: as for files, data in detector units are refused with a
:class:`~sbdenoise.errors.NotCountsError` unless ``gain`` and ``offset`` (or ``assume_counts``)
say how to read them.

Example
-------
>>> import hyperspy.api as hs
>>> from sbdenoise.hyperspy import denoise_signal, likelihood_signal
>>> frames = hs.load("series.emd")                  # doctest: +SKIP
>>> denoised = denoise_signal(frames, method="sbd")  # doctest: +SKIP
>>> denoised.metadata.Signal.sbdenoise.method        # doctest: +SKIP
'sbd'
>>> llr = likelihood_signal(frames, denoised)        # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sbdenoise import __version__
from sbdenoise.errors import InputError
from sbdenoise.io.units import angstrom_per_unit, is_unitless, length_to_angstrom
from sbdenoise.io.validation import check_pixel_size, validate_image_array

if TYPE_CHECKING:
    from hyperspy.signal import BaseSignal

__all__ = ["METADATA_KEY", "denoise_signal", "likelihood_signal", "signal_pixel_size"]

#: Where the processing is recorded in the returned signal's metadata.
METADATA_KEY = "Signal.sbdenoise"

#: Relative difference of the x and y pixel sizes above which pixels are not square (as files).
_SQUARE_RTOL = 1e-3


def _hyperspy() -> Any:
    """The ``hyperspy.signal`` module, or an ImportError saying how to install HyperSpy."""
    try:
        from hyperspy import signal as hs_signal
    except ImportError as error:  # pragma: no cover - the tests skip without HyperSpy
        raise ImportError(
            "sbdenoise.hyperspy needs HyperSpy: pip install 'sbdenoise[hyperspy]'"
        ) from error
    return hs_signal


def _label(signal: BaseSignal) -> str:
    """How a signal is named in error messages: its file, else its title."""
    general = signal.metadata.get_item("General", None)
    name = None
    if general is not None:
        name = general.get_item("original_filename", None) or general.get_item("title", None)
    return f"signal {str(name)!r}" if name else "signal"


def _check_signal(signal: Any, what: str = "signal") -> str:
    """Refuse anything but a HyperSpy signal with two signal axes; return its label."""
    hs_signal = _hyperspy()
    if not isinstance(signal, hs_signal.BaseSignal):
        raise InputError(
            f"the {what} must be a HyperSpy signal (hyperspy.api.signals.Signal2D), "
            f"got {type(signal).__name__}"
        )
    label = _label(signal)
    if signal.axes_manager.signal_dimension != 2:
        raise InputError(
            f"has {signal.axes_manager.signal_dimension} signal dimension(s); an image needs "
            "2 (a Signal2D, or use signal.as_signal2D((x_axis, y_axis)) first)",
            label,
        )
    if getattr(signal, "ragged", False):
        raise InputError("is ragged; only regular arrays of frames can be denoised", label)
    return label


def _axis_angstrom(axis: Any, label: str, warn: bool = True) -> float | None:
    """Step of a signal axis in angstrom, or None when unknown (saying why in a warning)."""
    if not getattr(axis, "is_uniform", True):
        if warn:
            warnings.warn(
                f"{label}: the {axis.name} axis is not uniform; pixel size unknown",
                UserWarning,
                stacklevel=3,
            )
        return None
    units = axis.units if isinstance(axis.units, str) else None
    value = length_to_angstrom(axis.scale, units)
    if value is None and warn:
        if not is_unitless(units) and angstrom_per_unit(units) is None:
            warnings.warn(
                f"{label}: unrecognised length unit {units!r} on the {axis.name} axis; "
                "pixel size unknown",
                UserWarning,
                stacklevel=3,
            )
        elif not math.isclose(float(axis.scale), 1.0):
            warnings.warn(
                f"{label}: the {axis.name} axis has a scale of {float(axis.scale):g} but no length "
                "unit; pixel size unknown",
                UserWarning,
                stacklevel=3,
            )
    return value


def signal_pixel_size(signal: BaseSignal) -> float | None:
    """Pixel size of a HyperSpy image signal in angstrom, from its signal axes.

    The x axis (the first signal axis, the last array dimension) gives the value; a y axis whose
    pixel size differs by more than 0.1 % gives a :class:`UserWarning` (pixels are not square).

    Parameters
    ----------
    signal : hyperspy.signals.Signal2D
        A signal with two signal axes (any number of navigation axes).

    Returns
    -------
    float or None
        Angstrom per pixel, or None when the axes carry no length unit (pixels, ``<undefined>``,
        an unrecognised unit: the last with a warning) or are not uniform.

    Raises
    ------
    InputError
        If ``signal`` is not a HyperSpy signal with two signal dimensions.
    """
    label = _check_signal(signal)
    x_axis, y_axis = signal.axes_manager.signal_axes
    pixel_x = _axis_angstrom(x_axis, label)
    pixel_y = _axis_angstrom(y_axis, label, warn=y_axis.units != x_axis.units)
    if pixel_x is not None and pixel_y is not None:
        if not math.isclose(pixel_x, pixel_y, rel_tol=_SQUARE_RTOL):
            warnings.warn(
                f"{label}: pixels are not square (y: {pixel_y:.6g} Å, x: {pixel_x:.6g} Å); "
                "using the x pixel size",
                UserWarning,
                stacklevel=2,
            )
    return pixel_x


def _resolve_pixel_size(pixel_size: float | None, label: str, *signals: BaseSignal) -> float | None:
    """The given pixel size, else the first signal's calibration (a second must agree)."""
    if pixel_size is not None:
        return check_pixel_size(pixel_size, label)
    known = [size for size in map(signal_pixel_size, signals) if size is not None]
    for other in known[1:]:
        if abs(other - known[0]) > 0.01 * known[0]:
            raise InputError(
                f"the two signals have pixel sizes {known[0]:.5g} Å and {other:.5g} Å: pass "
                "pixel_size (angstrom per pixel) to say which is right",
                label,
            )
    return known[0] if known else None


def _frames(signal: BaseSignal, label: str) -> np.ndarray:
    """The signal's values as ``(y, x)`` or ``(frames, y, x)``, checked; never a writable view.

    Every navigation axis is flattened into frames (row-major, as HyperSpy iterates them). A
    lazy signal is computed. The array is a read-only view where no copy was needed, so no method
    can write into the signal's data.
    """
    data = signal.data
    if signal._lazy:
        data = data.compute()
    data = np.asarray(data)
    if data.ndim > 3:
        data = data.reshape((-1, *data.shape[-2:]))
    checked = validate_image_array(data, label)
    if not signal._lazy and np.shares_memory(checked, signal.data):
        checked = checked.view()
        checked.flags.writeable = False
    return checked


def _plain(value: Any) -> Any:
    """A value HyperSpy metadata (and its .hspy files) can hold: no Paths, no numpy scalars."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _model_record(model_path: str | Path) -> dict[str, Any]:
    """What identifies the network that denoised: its file, name, card and the version made it."""
    from sbdenoise.nn.model_file import model_paths, read_card

    weights, card_path = model_paths(model_path)
    card = read_card(card_path)
    return {
        "name": weights.stem,
        "file": str(weights),
        "architecture": card.architecture,
        "sampling_angstrom": float(card.sampling),
        "dose_range_per_area": card.dose_range_per_area,
        "created": card.created,
        "sbdenoise_version": card.sbdenoise_version,
    }


def _new_signal(signal: BaseSignal, data: np.ndarray, title: str) -> BaseSignal:
    """A copy of ``signal`` (class, axes, metadata) holding ``data``; its variance is dropped."""
    if signal._lazy:
        import dask.array as da

        data = da.from_array(data, chunks=signal.data.chunksize)
    out = signal._deepcopy_with_new_data(data)
    out.metadata.General.title = title
    return out


def denoise_signal(
    signal: BaseSignal,
    *,
    method: str = "sbd",
    params: Mapping[str, Any] | None = None,
    model: str | Path | None = None,
    pixel_size: float | None = None,
    gain: float | None = None,
    offset: float | None = None,
    assume_counts: bool = False,
    show_progress: bool = False,
) -> BaseSignal:
    """Denoise a HyperSpy image or stack of images with a method of the registry.

    The signal's values go through :func:`sbdenoise.denoise.api.denoise_micrograph`, the path of
    the ``denoise`` command: the same checks (finite values, frame size, electron counts), the same
    method preparation (parameters, model file) and the same inference.

    Parameters
    ----------
    signal : hyperspy.signals.Signal2D
        One frame (no navigation axis) or frames along one or more navigation axes (a time
        series, a focal series, a scan), in electron counts per pixel. Lazy signals are computed.
        Not modified.
    method : str
        Method name (``sbdenoise methods`` lists them): ``"sbd"`` (the trained network),
        a classical baseline such as ``"gaussian"`` or ``"vst-bm3d"``, ... A method that needs a
        stack (``"time-average"``) needs exactly one navigation axis.
    params : Mapping, optional
        Method parameters overriding its defaults.
    model : str or Path, optional
        Model file of ``sbd`` (default: the shipped model).
    pixel_size : float, optional
        Pixel size in angstrom per pixel, overriding the calibration of the signal axes.
    gain, offset : float, optional
        Detector units per electron and dark level (detector units), to convert data in detector
        units to electron counts; the result is converted back to the input's units.
    assume_counts : bool
        Use the values as electron counts without checking them.
    show_progress : bool
        Show a progress bar over the frames of a stack.

    Returns
    -------
    hyperspy.signals.BaseSignal
        A new signal of the same class with the same axes (names, scales, offsets, units) and
        metadata, ``float32`` expected values in the input's units (e-/px for counts), the title
        suffixed with the method, and the processing recorded in ``metadata.Signal.sbdenoise``:
        ``method``, ``params``, ``model`` (network methods: name, file, architecture, working
        sampling in Å/px, creation time, version), ``sbdenoise_version``, ``pixel_size_angstrom``
        and ``pixel_size_source`` (``"axes"``, ``"given"`` or ``"unknown"``), ``input_values``
        (how values were read as counts), ``seconds`` (wall time of the denoising) and ``notes``
        (warnings, e.g. a dose outside the model's training range, also issued as
        :class:`UserWarning`).

    Raises
    ------
    InputError
        If ``signal`` is not a HyperSpy signal with two signal dimensions, holds NaN or infinite
        values, has frames smaller than 16 px, the method is unknown or needs what is not given
        (a pixel size, a stack, a model), or the parameters are wrong.
    NotCountsError
        If the values are detector units, not counts, and no ``gain``/``offset`` or
        ``assume_counts`` says how to read them (a subclass of InputError).
    """
    from sbdenoise.denoise.api import denoise_micrograph
    from sbdenoise.denoise.registry import get_method
    from sbdenoise.io.micrograph import Micrograph

    label = _check_signal(signal)
    nav_dims = signal.axes_manager.navigation_dimension
    if get_method(method).needs_stack and nav_dims != 1:
        raise InputError(
            f"method {method!r} needs a stack with exactly one navigation axis (frames), the "
            f"signal has {nav_dims}",
            label,
        )
    size = _resolve_pixel_size(pixel_size, label, signal)
    source = "given" if pixel_size is not None else ("axes" if size is not None else "unknown")
    frames = _frames(signal, label)
    micrograph = Micrograph(data=frames, pixel_size=size, source=Path(label))
    result = denoise_micrograph(
        micrograph,
        method,
        dict(params or {}),
        gain=gain,
        offset=offset,
        assume_counts=assume_counts,
        show_progress=show_progress,
        model=model,
    )
    for note in result.notes:
        warnings.warn(f"{label}: {note}", UserWarning, stacklevel=2)
    record: dict[str, Any] = {
        "method": result.method,
        "params": _plain({k: v for k, v in result.params.items() if k != "model"}),
        "sbdenoise_version": __version__,
        "pixel_size_angstrom": result.denoised.pixel_size,
        "pixel_size_source": source,
        "input_values": result.conversion,
        "seconds": round(result.seconds, 4),
        "notes": list(result.notes),
    }
    if result.params.get("model") is not None:
        record["model"] = _model_record(result.params["model"])
    data = np.asarray(result.denoised.data, dtype=np.float32).reshape(signal.data.shape)
    title = str(signal.metadata.get_item("General.title", "") or "")
    out = _new_signal(signal, data, f"{title} (denoised: {method})".strip())
    out.metadata.set_item(METADATA_KEY, _plain(record))
    return out


def likelihood_signal(
    noisy_signal: BaseSignal,
    denoised_signal: BaseSignal,
    *,
    pixel_size: float | None = None,
    positions: np.ndarray | None = None,
    vacuum_rate: float | None = None,
    radius: float | None = None,
    real: float | None = None,
    spurious: float | None = None,
    gain: float | None = None,
    offset: float | None = None,
    assume_counts: bool = False,
) -> BaseSignal:
    """Map of the Poisson log-likelihood ratio (column against vacuum) of every column shown.

    For each frame, the candidate columns of the denoised image
    (:func:`sbdenoise.analysis.candidates.find_candidates`, as the ``likelihood`` command finds
    them) or the given ``positions`` are scored by
    :func:`sbdenoise.analysis.likelihood.column_likelihood`: the mean over a disc of ``radius``
    of ``y log(c / v) - (c - v)``, with ``y`` the noisy counts, ``c`` the denoised column rate and
    ``v`` the vacuum rate. Each pixel of a column disc holds the value of its nearest column, NaN
    elsewhere.

    Parameters
    ----------
    noisy_signal : hyperspy.signals.Signal2D
        The noisy frame or frames, electron counts per pixel (or detector units with ``gain`` and
        ``offset``). Not modified.
    denoised_signal : hyperspy.signals.Signal2D
        The same frames denoised (for instance by :func:`denoise_signal`), same shape and units.
        Not modified.
    pixel_size : float, optional
        Angstrom per pixel (default: from the noisy signal's axes, else the denoised one's).
    positions : numpy.ndarray, optional
        Columns to score, ``(n, 2)`` as ``(y, x)`` in angstrom from the frame's first pixel
        (one frame only); default: the candidates found in each denoised frame.
    vacuum_rate : float, optional
        Vacuum rate in e-/px (default: estimated per frame from its flattest region).
    radius : float, optional
        Radius of a column region in angstrom (default 0.7 Å, the papers').
    real, spurious : float, optional
        Thresholds of the verdicts in nats per pixel (default 0.005 and -0.006, the papers').
    gain, offset : float, optional
        Detector units per electron and dark level of both signals.
    assume_counts : bool
        Use the noisy values as electron counts without checking them.

    Returns
    -------
    hyperspy.signals.Signal2D
        Log-likelihood ratio in nats per pixel (float32, NaN outside column regions), with the
        axes and metadata of the noisy signal and in ``metadata.Signal.sbdenoise``: ``analysis``
        (``"likelihood"``), ``pixel_size_angstrom``, ``radius_angstrom``, the thresholds,
        ``vacuum_rate`` (e-/px, one per frame), ``vacuum_source`` and the number of columns per
        verdict (summed over frames).

    Raises
    ------
    InputError
        If a signal is not a two-dimensional image signal, the shapes differ, the pixel size is
        unknown, no vacuum region is found (pass ``vacuum_rate``), or ``positions`` is given for a
        stack.
    NotCountsError
        If the noisy values are not electron counts and no conversion is given.
    """
    from sbdenoise.analysis.candidates import find_candidates
    from sbdenoise.analysis.likelihood import (
        DEFAULT_RADIUS_A,
        DEFAULT_REAL,
        DEFAULT_SPURIOUS,
        column_likelihood,
    )
    from sbdenoise.noise.counts import detector_to_counts, prepare_counts

    label = _check_signal(noisy_signal, "noisy signal")
    denoised_label = _check_signal(denoised_signal, "denoised signal")
    if noisy_signal.data.shape != denoised_signal.data.shape:
        raise InputError(
            f"shape {denoised_signal.data.shape} differs from {noisy_signal.data.shape} of the "
            "noisy signal: the two must be the same field of view",
            denoised_label,
        )
    size = _resolve_pixel_size(pixel_size, label, noisy_signal, denoised_signal)
    if size is None:
        raise InputError(
            "the signal axes give no pixel size: pass pixel_size (angstrom per pixel)", label
        )
    radius = DEFAULT_RADIUS_A if radius is None else radius
    real = DEFAULT_REAL if real is None else real
    spurious = DEFAULT_SPURIOUS if spurious is None else spurious

    counts = prepare_counts(
        _frames(noisy_signal, label), label, gain=gain, offset=offset, assume_counts=assume_counts
    )
    image = np.asarray(_frames(denoised_signal, denoised_label), dtype=np.float64)
    if gain is not None or offset is not None:
        image = detector_to_counts(image, 1.0 if gain is None else gain, offset or 0.0)
    stack = counts.ndim == 3
    if positions is not None and stack:
        raise InputError("positions can be given for one frame only, not a stack", label)
    count_frames = counts if stack else counts[None]
    image_frames = image if stack else image[None]

    maps = np.empty(count_frames.shape, dtype=np.float32)
    rates: list[float] = []
    verdicts: dict[str, int] = {}
    sources: set[str] = set()
    for i, (noisy, denoised) in enumerate(zip(count_frames, image_frames, strict=True)):
        where = find_candidates(denoised, size).positions if positions is None else positions
        result = column_likelihood(
            noisy,
            denoised,
            np.asarray(where, dtype=np.float64).reshape(-1, 2),
            size,
            vacuum_rate,
            radius=radius,
            real=real,
            spurious=spurious,
        )
        maps[i] = result.map
        rates.append(result.vacuum.rate)
        sources.add(result.vacuum.source)
        for name, n in result.counts().items():
            verdicts[name] = verdicts.get(name, 0) + n

    title = str(denoised_signal.metadata.get_item("General.title", "") or "")
    out = _new_signal(
        noisy_signal, maps.reshape(noisy_signal.data.shape), f"log-likelihood ratio: {title}"
    )
    out.metadata.set_item("Signal.quantity", "Log-likelihood ratio (nats/px)")
    out.metadata.set_item(
        METADATA_KEY,
        _plain(
            {
                "analysis": "likelihood",
                "sbdenoise_version": __version__,
                "pixel_size_angstrom": size,
                "radius_angstrom": float(radius),
                "real_threshold": float(real),
                "spurious_threshold": float(spurious),
                "vacuum_rate": rates if stack else rates[0],
                "vacuum_source": ", ".join(sorted(sources)),
                "columns": verdicts,
                "positions": "given" if positions is not None else "candidates of the denoised",
            }
        ),
    )
    return out
