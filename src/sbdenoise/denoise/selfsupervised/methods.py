"""The four self-supervised methods: blind-spot, blind-spot-es, self2self and udvd.

Each trains a UNet (:mod:`.networks`) on the data it denoises, on the working grid
(:mod:`.data`), for a wall-clock budget (:mod:`.training`), then predicts every frame. Their
parameters and defaults live in the method registry (:mod:`sbdenoise.denoise.registry`); this
module checks them (:func:`settings_from_params`) and runs the methods.

Budget semantics: ``minutes`` is the wall-clock budget of one call (one frame for
``denoise_frame``, the whole stack for ``denoise_stack``): binning, training (validation
included), prediction and the return to the input grid. Before training, one prediction pass
and one return to the input grid are timed on the first frame; the time of all the passes the
call will make (one per frame, ``n_predictions`` per frame for Self2Self) is set aside, and
training stops when the rest is spent (at least one step is taken, so a budget too small for
the prediction alone is overrun and a warning is logged). ``max_steps`` caps the optimiser
steps of each trained network (per frame for Self2Self, which trains one network per frame and
shares the training time evenly among the frames, and averages fewer than ``n_predictions``
dropout samples when they would take more than half of the budget).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sbdenoise.denoise.selfsupervised.data import (
    CropSampler,
    WorkingStack,
    allowed_origins,
    fit_patch,
    temporal_windows,
    to_working_stack,
)
from sbdenoise.denoise.selfsupervised.masking import bernoulli_mask, mask_spacing, n2v_mask
from sbdenoise.denoise.selfsupervised.networks import SelfSupervisedUNet, build_network, predict
from sbdenoise.denoise.selfsupervised.training import TrainReport, train_network
from sbdenoise.errors import InputError
from sbdenoise.nn.sampling import from_working_grid

__all__ = [
    "SELF_SUPERVISED_METHODS",
    "Settings",
    "TrainedBlindSpot",
    "blind_spot_denoise",
    "fit_blind_spot",
    "held_out_frames",
    "method_settings",
    "self2self_denoise",
    "settings_from_params",
    "setup_method",
    "udvd_denoise",
]

logger = logging.getLogger("sbdenoise.denoise.selfsupervised")

#: Registry names of the methods of this module.
SELF_SUPERVISED_METHODS = ("blind-spot", "blind-spot-es", "self2self", "udvd")
#: Fixed validation patches (with their masks) for early stopping.
VALIDATION_PATCHES = 32
#: Fraction of the frames (of a stack) or patches (of one frame) held out for early stopping.
HELD_OUT_FRACTION = 1 / 8


@dataclass(frozen=True)
class Settings:
    """Checked parameters of one self-supervised run (see the registry for their defaults).

    Attributes
    ----------
    minutes : float
        Training budget of one call, minutes of wall-clock time.
    max_steps : int or None
        Cap on the optimiser steps of each network.
    seed : int
        Seed of torch (weights, dropout, masks) and numpy (crops) draws.
    sampling : float
        Working sampling, angstrom per working pixel (0.244: 4 x 4 blocks of 0.061 A pixels).
    scales, base_channels : int
        UNet size (resolution levels, channels at the finest level).
    patch : int
        Side of the training crops, working pixels.
    batch_size : int
        Crops per optimiser step.
    learning_rate : float
        Initial Adam learning rate.
    mask_fraction : float
        Fraction of masked pixels per crop (blind-spot methods, udvd).
    dropout : float
        Self2Self: probability that an input pixel is hidden, and dropout rate of the network.
    n_predictions : int
        Self2Self: dropout samples averaged per frame (fewer when they do not fit in half of
        the budget, see :func:`self2self_denoise`).
    frames : int
        UDVD: frames per input window (odd).
    """

    minutes: float
    max_steps: int | None
    seed: int
    sampling: float
    scales: int
    base_channels: int
    patch: int
    batch_size: int
    learning_rate: float
    mask_fraction: float = 0.01
    dropout: float = 0.3
    n_predictions: int = 20
    frames: int = 5


def _positive_int(name: str, value: Any, method: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{method}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_float(name: str, value: Any, method: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not (math.isfinite(number) and number > 0):
        raise InputError(f"{method}: {name} must be a positive number, got {value!r}")
    return number


def settings_from_params(method: str, params: Mapping[str, Any]) -> Settings:
    """Check the resolved registry parameters of ``method``.

    Raises
    ------
    InputError
        For a parameter of the wrong type or outside its range.
    """
    values: dict[str, Any] = {
        "minutes": _positive_float("minutes", params["minutes"], method),
        "max_steps": None
        if params.get("max_steps") is None
        else _positive_int("max_steps", params["max_steps"], method),
        "sampling": _positive_float("sampling", params["sampling"], method),
        "scales": _positive_int("scales", params["scales"], method),
        "base_channels": _positive_int("base_channels", params["base_channels"], method),
        "patch": _positive_int("patch", params["patch"], method),
        "batch_size": _positive_int("batch_size", params["batch_size"], method),
        "learning_rate": _positive_float("learning_rate", params["learning_rate"], method),
    }
    seed = params["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"{method}: seed must be a non-negative integer, got {seed!r}")
    values["seed"] = int(seed)
    if "mask_fraction" in params:
        fraction = _positive_float("mask_fraction", params["mask_fraction"], method)
        try:
            mask_spacing(fraction)
        except ValueError as error:
            raise InputError(f"{method}: {error}") from None
        values["mask_fraction"] = fraction
    if "dropout" in params:
        dropout = _positive_float("dropout", params["dropout"], method)
        if not dropout < 1:
            raise InputError(f"{method}: dropout must be in (0, 1), got {dropout!r}")
        values["dropout"] = dropout
    if "n_predictions" in params:
        values["n_predictions"] = _positive_int("n_predictions", params["n_predictions"], method)
    if "frames" in params:
        frames = _positive_int("frames", params["frames"], method)
        if frames < 3 or frames % 2 == 0:
            raise InputError(f"{method}: frames must be odd and at least 3, got {frames}")
        values["frames"] = frames
    return Settings(**values)


def method_settings(name: str, **params: Any) -> Settings:
    """Checked settings of registry method ``name``: its defaults overridden by ``params``."""
    from sbdenoise.denoise.registry import get_method

    return settings_from_params(name, get_method(name).resolve_params(params))


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[tuple[np.random.Generator, torch.Generator]]:
    """Seed torch's global generator for the block (restored after) and make the draw sources."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield np.random.default_rng(seed), torch.Generator().manual_seed(seed)


def _masked_mse(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the pixels where ``mask`` is True (normalised counts squared)."""
    return ((output.float() - target)[mask] ** 2).mean()


def _n2v_step(
    sampler: CropSampler, settings: Settings, generator: torch.Generator, centre: int
) -> Callable[[torch.nn.Module], torch.Tensor]:
    """A training step on masked crops: channel ``centre`` is masked and is the target."""

    def step(network: torch.nn.Module) -> torch.Tensor:
        crops = torch.from_numpy(sampler.draw(settings.batch_size))
        target = crops[:, centre]
        masked, mask = n2v_mask(target, settings.mask_fraction, generator)
        inputs = crops.clone()
        inputs[:, centre] = masked
        return _masked_mse(network(inputs)[:, 0], target, mask)

    return step


def held_out_frames(n_frames: int) -> int:
    """Frames of a stack held out for early stopping: ``max(1, round(n / 8))`` (5 of 40)."""
    return max(1, round(n_frames * HELD_OUT_FRACTION))


def _tiles(shape: tuple[int, int], size: int) -> list[tuple[int, int]]:
    """Top-left corners of the non-overlapping ``size`` tiles inside ``shape``."""
    return [
        (y, x)
        for y in range(0, shape[0] - size + 1, size)
        for x in range(0, shape[1] - size + 1, size)
    ]


def _validation_set(
    crops: np.ndarray, settings: Settings, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Held-out crops ``(V, P, P)``, each repeated (with another fixed mask) when there are fewer
    than :data:`VALIDATION_PATCHES`: ``(inputs, targets, masks)``."""
    repeat = max(1, VALIDATION_PATCHES // len(crops))
    target = torch.from_numpy(np.repeat(crops, repeat, axis=0))
    generator = torch.Generator().manual_seed(seed + 1)
    masked, mask = n2v_mask(target, settings.mask_fraction, generator)
    return masked[:, None], target, mask


def _validator(
    inputs: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> Callable[[torch.nn.Module], float]:
    """Masked loss of the network on a fixed validation set, in eval mode and float32."""

    def validate(network: torch.nn.Module) -> float:
        network.eval()
        with torch.no_grad():
            output = torch.cat([network(inputs[i : i + 8]) for i in range(0, len(inputs), 8)])
        return float(_masked_mse(output[:, 0], target, mask))

    return validate


def _log(name: str, report: TrainReport, **details: Any) -> None:
    logger.info(
        "%s: %d steps in %.1f s (stopped by %s, %s)",
        name,
        report.steps,
        report.seconds,
        report.stopped_by,
        report.precision,
        extra={"train_report": {"method": name, **report.as_dict(), **details}},
    )


def _early_stopping_split(
    working: WorkingStack,
    settings: Settings,
    patch: int,
    multiple: int,
    spacing: int,
    rng: np.random.Generator,
) -> tuple[CropSampler, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Training sampler and validation set of blind-spot-es.

    A stack keeps its last :func:`held_out_frames` frames for validation. One frame is cut into
    tiles of ``patch`` pixels (smaller when fewer than 8 fit), a random 1/8 of them (at least
    one) is held out, and training crops avoid them.
    """
    data = working.data
    n_frames = data.shape[0]
    if n_frames >= 2:
        held = held_out_frames(n_frames)
        sampler = CropSampler(data, np.arange(n_frames - held)[:, None], patch, rng)
        corners = [
            (t, y, x)
            for t in range(n_frames - held, n_frames)
            for y, x in _tiles(data.shape[1:], patch)
        ]
        chosen = rng.permutation(len(corners))[:VALIDATION_PATCHES]
        crops = np.stack(
            [data[t, y : y + patch, x : x + patch] for t, y, x in (corners[i] for i in chosen)]
        )
        return sampler, _validation_set(crops, settings, settings.seed)
    shape = data.shape[1:]
    tile = patch
    while len(_tiles(shape, tile)) < 8 and (tile // 2) // multiple * multiple >= max(
        spacing, multiple
    ):
        tile = (tile // 2) // multiple * multiple
    corners = _tiles(shape, tile)
    if len(corners) < 2:
        raise InputError("the frame is too small to hold out patches for early stopping")
    count = max(1, round(len(corners) * HELD_OUT_FRACTION))
    chosen = rng.permutation(len(corners))[:count]
    held_out = np.zeros(shape, dtype=bool)
    for i in chosen:
        y, x = corners[i]
        held_out[y : y + tile, x : x + tile] = True
    size = patch
    origins = allowed_origins(held_out, size)
    if not origins.any():
        size = tile
        origins = allowed_origins(held_out, size)
    sampler = CropSampler(data, np.zeros((1, 1), dtype=np.int64), size, rng, origins)
    crops = np.stack([data[0, y : y + tile, x : x + tile] for y, x in (corners[i] for i in chosen)])
    return sampler, _validation_set(crops, settings, settings.seed)


@dataclass
class _Clock:
    """The wall-clock budget of one call, and what is left of it for training.

    Attributes
    ----------
    seconds : float
        Budget of the whole call, s.
    start : float
        :func:`time.perf_counter` at the start of the call.
    """

    seconds: float
    start: float = field(default_factory=time.perf_counter)
    warned: bool = False

    def left(self) -> float:
        """Seconds of the budget not yet spent (negative once overrun)."""
        return self.seconds - (time.perf_counter() - self.start)

    def training_minutes(self, reserve: float, name: str) -> float:
        """Minutes left for training once ``reserve`` seconds (prediction) are set aside."""
        left = self.left() - reserve
        if left <= 0 and not self.warned:
            self.warned = True
            logger.warning(
                "%s: no time of the budget (minutes=%.3g) is left for training once %.0f s "
                "are set aside for prediction; training takes one step per network and the "
                "budget is overrun",
                name,
                self.seconds / 60.0,
                reserve,
            )
        return max(left, 0.0) / 60.0


def _pass_seconds(network: SelfSupervisedUNet, inputs: torch.Tensor) -> float:
    """Seconds of one prediction pass of ``network`` over ``inputs`` (the faster of two)."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        predict(network, inputs)
        times.append(time.perf_counter() - start)
    return min(times)


def _return_seconds(working: WorkingStack) -> float:
    """Seconds to return one frame's estimate to the input grid."""
    start = time.perf_counter()
    from_working_grid(working.data[0] * working.means[0], working.grids[0])
    return time.perf_counter() - start


@dataclass
class TrainedBlindSpot:
    """A blind-spot network trained by :func:`fit_blind_spot`, ready for more frames.

    Attributes
    ----------
    network : SelfSupervisedUNet
        The trained network (one input channel).
    settings : Settings
        The parameters it was trained with (its working sampling among them).
    report : TrainReport
        What the training did.
    """

    network: SelfSupervisedUNet
    settings: Settings
    report: TrainReport

    def denoise(self, stack: np.ndarray, pixel_size: float) -> np.ndarray:
        """Denoise ``(T, H, W)`` counts with the trained network (no training).

        Returns ``(T, H, W)`` float32 expected counts per input pixel.
        """
        return self._denoise_working(to_working_stack(stack, pixel_size, self.settings.sampling))

    def _denoise_working(self, working: WorkingStack) -> np.ndarray:
        estimates = np.stack(
            [
                predict(self.network, torch.from_numpy(frame[None, None])).numpy()[0]
                for frame in working.data
            ]
        )
        return working.to_input_grid(estimates)


def _fit_blind_spot(
    working: WorkingStack,
    settings: Settings,
    early_stopping: bool,
    clock: _Clock,
    reserve_frames: int,
) -> TrainedBlindSpot:
    name = "blind-spot-es" if early_stopping else "blind-spot"
    with _seeded(settings.seed) as (rng, generator):
        network = build_network(1, settings.scales, settings.base_channels)
        multiple = network.required_multiple
        spacing = mask_spacing(settings.mask_fraction)
        patch = fit_patch(settings.patch, working.data.shape[1:], multiple, spacing)
        validate = None
        if early_stopping:
            sampler, validation = _early_stopping_split(
                working, settings, patch, multiple, spacing, rng
            )
            validate = _validator(*validation)
        else:
            sampler = CropSampler(working.data, np.arange(len(working.data))[:, None], patch, rng)
        reserve = 0.0
        if reserve_frames > 0:
            one = torch.from_numpy(working.data[0][None, None])
            reserve = reserve_frames * (_pass_seconds(network, one) + _return_seconds(working))
        report = train_network(
            network,
            _n2v_step(sampler, settings, generator, 0),
            minutes=clock.training_minutes(reserve, name),
            max_steps=settings.max_steps,
            learning_rate=settings.learning_rate,
            description=name,
            validate=validate,
        )
    _log(name, report)
    return TrainedBlindSpot(network, settings, report)


def fit_blind_spot(
    stack: np.ndarray,
    pixel_size: float,
    settings: Settings,
    early_stopping: bool = False,
    reserve_frames: int = 0,
) -> TrainedBlindSpot:
    """Train a Noise2Void UNet on masked crops of every frame of ``stack``.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(T, H, W)`` counts per input pixel (``T = 1`` for one frame).
    pixel_size : float
        Input pixel size, angstrom.
    settings : Settings
        Checked parameters; ``minutes`` is the budget of this call.
    early_stopping : bool
        Hold out data (:func:`held_out_frames` frames of a stack, 1/8 of the patches of one
        frame), monitor the masked loss on it and keep the best weights (``blind-spot-es``).
    reserve_frames : int
        Frames (of the size of ``stack``'s) whose later prediction is to fit in the budget too:
        their estimated prediction time is taken from the training time (0: all of the budget
        left after binning trains).

    Returns
    -------
    TrainedBlindSpot
    """
    clock = _Clock(60.0 * settings.minutes)
    working = to_working_stack(stack, pixel_size, settings.sampling)
    return _fit_blind_spot(working, settings, early_stopping, clock, reserve_frames)


def blind_spot_denoise(
    stack: np.ndarray, pixel_size: float, settings: Settings, early_stopping: bool = False
) -> tuple[np.ndarray, TrainReport]:
    """Noise2Void: one UNet trained on masked crops of all frames, then applied to every frame.

    Training stops early enough for the prediction of every frame to fit in ``minutes`` too
    (see the module's budget semantics).

    Parameters
    ----------
    stack : numpy.ndarray
        ``(T, H, W)`` counts per input pixel (``T = 1`` for one frame).
    pixel_size : float
        Input pixel size, angstrom.
    settings : Settings
        Checked parameters.
    early_stopping : bool
        Train with early stopping (``blind-spot-es``), see :func:`fit_blind_spot`.

    Returns
    -------
    denoised : numpy.ndarray
        ``(T, H, W)`` float32 expected counts per input pixel.
    report : TrainReport
    """
    clock = _Clock(60.0 * settings.minutes)
    working = to_working_stack(stack, pixel_size, settings.sampling)
    trained = _fit_blind_spot(working, settings, early_stopping, clock, len(working.data))
    return trained._denoise_working(working), trained.report


def udvd_denoise(
    stack: np.ndarray, pixel_size: float, settings: Settings
) -> tuple[np.ndarray, TrainReport]:
    """UDVD-style video denoising: ``frames`` consecutive frames in, the centre frame out.

    The blind spot is made by N2V masking of the centre frame (:func:`.masking.n2v_mask`) while
    the neighbour frames are given whole (no blind-spot architecture); the loss is the squared
    error at the masked pixels. At the ends of the series the window is reflected about the
    centre frame (:func:`.data.temporal_windows`). Training stops early enough for the
    prediction of every frame to fit in ``minutes`` too.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(T, H, W)`` counts per input pixel, ``T >= 2``.
    pixel_size : float
        Input pixel size, angstrom.
    settings : Settings
        Checked parameters.

    Returns
    -------
    denoised : numpy.ndarray
        ``(T, H, W)`` float32 expected counts per input pixel.
    report : TrainReport

    Raises
    ------
    InputError
        For fewer than 2 frames.
    """
    array = np.asarray(stack)
    if array.ndim != 3 or array.shape[0] < 2:
        raise InputError(
            f"udvd needs a stack of at least 2 frames (frames, y, x), got shape {array.shape}"
        )
    clock = _Clock(60.0 * settings.minutes)
    working = to_working_stack(array, pixel_size, settings.sampling)
    windows = temporal_windows(len(working.data), settings.frames)
    centre = settings.frames // 2
    with _seeded(settings.seed) as (rng, generator):
        network = build_network(settings.frames, settings.scales, settings.base_channels)
        patch = fit_patch(
            settings.patch,
            working.data.shape[1:],
            network.required_multiple,
            mask_spacing(settings.mask_fraction),
        )
        sampler = CropSampler(working.data, windows, patch, rng)
        one = torch.from_numpy(working.data[windows[0]][None])
        reserve = len(windows) * (_pass_seconds(network, one) + _return_seconds(working))
        report = train_network(
            network,
            _n2v_step(sampler, settings, generator, centre),
            minutes=clock.training_minutes(reserve, "udvd"),
            max_steps=settings.max_steps,
            learning_rate=settings.learning_rate,
            description="udvd",
        )
        estimates = np.stack(
            [
                predict(network, torch.from_numpy(working.data[window][None])).numpy()[0]
                for window in windows
            ]
        )
    _log("udvd", report)
    return working.to_input_grid(estimates), report


def _self2self_network(settings: Settings) -> SelfSupervisedUNet:
    return build_network(2, settings.scales, settings.base_channels, dropout=settings.dropout)


def _self2self_frame(
    frame: np.ndarray,
    settings: Settings,
    minutes: float,
    samples: int,
    rng: np.random.Generator,
    generator: torch.Generator,
    label: str,
) -> tuple[np.ndarray, TrainReport]:
    """Train a fresh dropout UNet on one normalised working frame; average dropout samples."""
    network = _self2self_network(settings)
    patch = fit_patch(settings.patch, frame.shape, network.required_multiple, 1)
    sampler = CropSampler(frame[None], np.zeros((1, 1), dtype=np.int64), patch, rng)

    def step(net: torch.nn.Module) -> torch.Tensor:
        target = torch.from_numpy(sampler.draw(settings.batch_size))
        keep = bernoulli_mask(tuple(target.shape), settings.dropout, generator)
        output = net(torch.cat([target * keep, keep], dim=1))
        return _masked_mse(output, target, keep == 0)

    report = train_network(
        network,
        step,
        minutes=minutes,
        max_steps=settings.max_steps,
        learning_rate=settings.learning_rate,
        description=label,
    )
    image = torch.from_numpy(frame[None, None])
    total = torch.zeros(frame.shape, dtype=torch.float32)
    for _ in range(samples):
        keep = bernoulli_mask(tuple(image.shape), settings.dropout, generator)
        total += predict(network, torch.cat([image * keep, keep], dim=1), dropout=True)[0]
    return (total / samples).numpy(), report


def self2self_denoise(
    stack: np.ndarray, pixel_size: float, settings: Settings
) -> tuple[np.ndarray, list[TrainReport]]:
    """Self2Self (Quan et al., CVPR 2020): a dropout UNet per frame, trained on that frame only.

    Training: each crop's pixels are hidden with probability ``dropout`` (Bernoulli sampling);
    the network gets the kept pixels (hidden ones set to 0) and the mask as a second channel,
    has dropout of the same rate before every decoder block and the output layer, and is scored
    by the squared error on the hidden pixels. Prediction: the mean of ``n_predictions`` runs,
    each with a fresh Bernoulli sample of the input and active dropout.

    Budget: ``minutes`` covers the whole stack. The time of the ``T x n_predictions``
    prediction passes is estimated first (one timed pass) and set aside; what is left is shared
    evenly by the frames still to do when each frame starts (from the second frame on, the time
    a frame takes besides training is the one measured on the frame before). When the passes
    would take more than half of the budget, fewer samples are averaged (as many as fit in that
    half, at least one; a warning is logged), so that training keeps half of the budget.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(T, H, W)`` counts per input pixel; every frame is denoised on its own.
    pixel_size : float
        Input pixel size, angstrom.
    settings : Settings
        Checked parameters.

    Returns
    -------
    denoised : numpy.ndarray
        ``(T, H, W)`` float32 expected counts per input pixel.
    reports : list of TrainReport
        One per frame.
    """
    clock = _Clock(60.0 * settings.minutes)
    working = to_working_stack(stack, pixel_size, settings.sampling)
    count = len(working.data)
    estimates = np.empty_like(working.data)
    reports = []
    with _seeded(settings.seed) as (rng, generator):
        image = torch.from_numpy(working.data[0][None, None])
        probe = torch.cat([image, torch.ones_like(image)], dim=1)
        one_pass = _pass_seconds(_self2self_network(settings), probe)
        returning = _return_seconds(working)
        samples = settings.n_predictions
        share = 0.5 * clock.left() / count - returning  # prediction's share per frame, s
        if samples * one_pass > share:
            samples = max(1, min(samples, math.floor(share / one_pass)))
            logger.warning(
                "self2self: averaging %d dropout samples per frame instead of %d to fit the "
                "budget (minutes=%.3g; one pass takes %.2f s)",
                samples,
                settings.n_predictions,
                settings.minutes,
                one_pass,
            )
        # Seconds a frame takes outside its training loop (network, samples, return): estimated
        # first, then measured on the frame before.
        overhead = samples * one_pass + returning
        for index, frame in enumerate(working.data):
            left = count - index
            label = "self2self" if count == 1 else f"self2self frame {index + 1}/{count}"
            minutes = clock.training_minutes(left * overhead, "self2self") / left
            began = time.perf_counter()
            estimates[index], report = _self2self_frame(
                frame, settings, minutes, samples, rng, generator, label
            )
            overhead = time.perf_counter() - began - report.seconds + returning
            _log("self2self", report, n_predictions=samples)
            reports.append(report)
    return working.to_input_grid(estimates), reports


def setup_method(name: str, params: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """Registry setup of a self-supervised method: ``(frame_fn, stack_fn, extra)``.

    Parameters
    ----------
    name : str
        One of :data:`SELF_SUPERVISED_METHODS`.
    params : Mapping
        Resolved registry parameters (defaults filled in).

    Raises
    ------
    InputError
        For a bad parameter value.
    """
    settings = settings_from_params(name, params)

    def run_stack(stack: np.ndarray, pixel_size: float | None) -> np.ndarray:
        if pixel_size is None:
            raise InputError(f"method {name!r} needs the pixel size (angstrom per pixel)")
        stack = np.asarray(stack)
        if name == "udvd":
            return udvd_denoise(stack, pixel_size, settings)[0]
        if name == "self2self":
            return self2self_denoise(stack, pixel_size, settings)[0]
        return blind_spot_denoise(
            stack, pixel_size, settings, early_stopping=name == "blind-spot-es"
        )[0]

    def run_frame(frame: np.ndarray, pixel_size: float | None) -> np.ndarray:
        return run_stack(np.asarray(frame)[None], pixel_size)[0]

    if name not in SELF_SUPERVISED_METHODS:
        raise InputError(f"unknown self-supervised method {name!r}")
    frame_fn = None if name == "udvd" else run_frame
    return frame_fn, run_stack, {"params": dict(params)}
