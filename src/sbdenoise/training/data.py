"""Training data: clean images at the working sampling, augmented crops, fresh Poisson noise.

The clean images of the dataset (expected electrons per detector pixel) are brought once to the
working sampling by summing ``b x b`` blocks (``b`` = working sampling / pixel size, an integer),
which gives the expected counts per working pixel: binning Poisson counts keeps them Poisson, so
noise drawn on the working grid is the noise a binned detector frame has. They stay in memory.

Every step draws, from a generator seeded by ``(seed, step, rank)`` only, a batch of crops of
the training images; each crop is flipped, rotated and rescaled while still clean (cubic
resampling of a window with enough margin that no corner is empty), and only then gets fresh
Poisson noise. A step's batch therefore depends on nothing but the seed, the step and the rank:
a resumed run sees exactly the data an uninterrupted one would, and processes of a distributed
run see different data.

Dose is a nuisance. With a dose range (e-/A^2, the default), the clean images are stored with a
vacuum of 1 count per working pixel and every crop gets its own dose, drawn log-uniformly over the
range and converted to counts per working pixel through the working pixel's area. Network inputs
and targets are then the crop's counts and expectations divided by the mean of its noisy counts
(``normalization = "frame_mean"``): inference divides a frame by its own mean count, which in
HRTEM is the vacuum dose within about 2 %, so one model serves every dose and pixel size of its
range. Single-dose models (``"fixed"``) use ``counts * input_scale`` with ``input_scale =
1 / (dose * b**2)`` instead, so vacuum is about 1 at the training dose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sbdenoise.errors import InputError
from sbdenoise.metrics import psnr
from sbdenoise.nn.sampling import binning_factor
from sbdenoise.nn.symmetry import N_SYMMETRIES, square_symmetry
from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.training.spec import Augmentation, TrainSpec

#: Images read from the store at a time while binning (bounds the memory of loading).
_READ_CHUNK = 16
#: Extra source pixels kept around a resampled crop's footprint (cubic kernel support).
_CUBIC_MARGIN = 2.0
#: Key of the packing record in the spec of a store packed at the working grid
#: (:mod:`sbdenoise.training.pack`); its ``sampling`` is then the default working sampling.
PACKED_KEY = "packed"
#: Stream ids mixed into the seeds, so training and validation draws never coincide.
_TRAIN_STREAM, _VAL_STREAM = 0, 1
#: Doses (log-spaced over the training range) the validation crops cycle through.
VAL_DOSE_LEVELS = 4


def warm_start_sampling(init_from: str | Path) -> float | None:
    """The working sampling of the model a run starts from, A/px (None when its card has none).

    A network's filters are tuned to the scale of columns on its working grid; fine-tuned on
    another grid (say 4 x 0.0488 = 0.195 A/px instead of 0.244) it starts far from any good
    solution: on 0.0488 A/px frames the shipped v9 scored 37.86 dB, the same weights fine-tuned
    for 1,500 steps at 0.195 A/px 36.68 (``sbdenoise fit``, 2026-12-03). So a warm start keeps
    the starting model's sampling unless the spec names one.
    """
    from sbdenoise.nn.model_file import read_card

    sampling = read_card(init_from).sampling
    return None if sampling is None else float(sampling)


def bin_sum(image: np.ndarray, factor: int) -> np.ndarray:
    """Sum ``factor x factor`` blocks (rows and columns beyond a whole block are dropped).

    Parameters
    ----------
    image : numpy.ndarray
        ``(..., H, W)`` expected counts per detector pixel, e-/px.
    factor : int
        Block size, px.

    Returns
    -------
    numpy.ndarray
        ``(..., H // factor, W // factor)`` float32 expected counts per working pixel.
    """
    if factor == 1:
        return np.asarray(image, dtype=np.float32)
    h, w = image.shape[-2] // factor, image.shape[-1] // factor
    blocks = np.asarray(image)[..., : h * factor, : w * factor]
    blocks = blocks.reshape(*image.shape[:-2], h, factor, w, factor)
    return blocks.sum(axis=(-3, -1), dtype=np.float64).astype(np.float32)


def common_binning(pixel_sizes: np.ndarray, sampling: float, source: Path) -> int:
    """The one integer binning that brings every pixel size to ``sampling``.

    Parameters
    ----------
    pixel_sizes : numpy.ndarray
        Pixel sizes of the images, angstrom.
    sampling : float
        Working sampling, angstrom per pixel.
    source : Path
        The dataset, named in the error.

    Raises
    ------
    InputError
        When the pixel sizes need different binning factors.
    """
    factors = {binning_factor(float(p), sampling) for p in pixel_sizes}
    if len(factors) != 1:
        raise InputError(
            f"the images' pixel sizes ({pixel_sizes.min():.4f} to {pixel_sizes.max():.4f} A) "
            f"need different binning factors {sorted(factors)} to reach {sampling:.4f} A/px: "
            "choose another sampling",
            source,
        )
    return factors.pop()


def nominal_pixel_size(pixel_sizes: np.ndarray) -> float:
    """The pixel size (angstrom) the working sampling is built on: the centre of the range.

    Simulations draw the pixel size around a nominal value (a nuisance, e.g. +-5 %); the centre
    of the drawn range is that value, and 4x it brings every drawn size within the binning
    tolerance. (The median does not: on a small subset it can sit near one end of the range,
    and the other end then needs another binning factor.)
    """
    sizes = np.asarray(pixel_sizes, dtype=float)
    return 0.5 * float(sizes.min() + sizes.max())


def step_generator(seed: int, step: int, rank: int) -> np.random.Generator:
    """The generator of one training step of one process: a function of its arguments only."""
    return np.random.default_rng([seed, _TRAIN_STREAM, step, rank])


def torch_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def footprint_radius(crop: int, rotation_deg: float, magnification: float) -> float:
    """Half extent (source px, per axis) of a rotated, rescaled crop plus the cubic margin.

    Parameters
    ----------
    crop : int
        Output crop size, px.
    rotation_deg : float
        Rotation, degrees.
    magnification : float
        Magnification (a source pixel becomes ``magnification`` output pixels).
    """
    theta = math.radians(rotation_deg)
    half = (crop - 1) / 2.0
    return half * (abs(math.cos(theta)) + abs(math.sin(theta))) / magnification + _CUBIC_MARGIN


def _turned_coordinates(
    cy: float, cx: float, angle_deg: float, magnification: float, oy: torch.Tensor, ox: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source coordinates (px) of a crop's pixel offsets ``oy``, ``ox`` from its centre
    ``cy``, ``cx``, turned by ``angle_deg`` and rescaled by ``magnification``."""
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    return cy + (cos * oy - sin * ox) / magnification, cx + (sin * oy + cos * ox) / magnification


def largest_crop(image_size: int, augmentation: Augmentation) -> int:
    """Largest crop (px) whose worst-case augmented footprint fits an image of ``image_size``."""
    if not augmentation.interpolates:
        return image_size
    rotation = min(augmentation.rotation_deg, 45.0)
    magnification = augmentation.scale[0] if augmentation.scale is not None else 1.0
    spread = (abs(math.cos(math.radians(rotation))) + abs(math.sin(math.radians(rotation)))) / (
        magnification
    )
    return max(0, math.floor((image_size - 1 - 2 * _CUBIC_MARGIN) / spread) + 1)


def augmented_crops(
    images: torch.Tensor,
    rng: np.random.Generator,
    batch: int,
    crop: int,
    augmentation: Augmentation,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw ``batch`` clean crops with random position, flips, turns, rotation and magnification.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, H, W)`` clean images (any units; values are interpolated, not rescaled).
    rng : numpy.random.Generator
        Source of every random choice (the same generator state gives the same crops).
    batch : int
        Number of crops.
    crop : int
        Output crop size, px.
    augmentation : Augmentation
        Which augmentations to apply.
    device : torch.device or str, optional
        Where the windows are resampled and the crops returned (default: that of ``images``);
        only the windows around the crops travel there.

    Returns
    -------
    torch.Tensor
        ``(batch, 1, crop, crop)`` float32 on ``device``.

    Notes
    -----
    A resampled crop is read from a window around its centre that holds its whole rotated and
    rescaled footprint plus the support of the cubic kernel, so there are no empty corners and no
    padding. Rotations beyond 45 degrees are folded into the footprint computation (the
    footprint's extent is periodic in 90 degrees).
    """
    n, height, width = images.shape
    device = images.device if device is None else torch.device(device)
    index = rng.integers(n, size=batch)
    angle = rng.uniform(-1.0, 1.0, size=batch) * augmentation.rotation_deg
    low, high = augmentation.scale if augmentation.scale is not None else (1.0, 1.0)
    magnification = rng.uniform(low, high, size=batch)
    position = rng.random((batch, 2))
    flips = rng.random((batch, 2)) < 0.5
    if not augmentation.interpolates:
        if crop > min(height, width):
            raise InputError(f"crop {crop} px is larger than the images ({height}x{width} px)")
        rows = np.floor(position[:, 0] * (height - crop + 1)).astype(int)
        cols = np.floor(position[:, 1] * (width - crop + 1)).astype(int)
        out = torch.stack(
            [
                images[i, r : r + crop, c : c + crop]
                for i, r, c in zip(index, rows, cols, strict=True)
            ]
        ).to(device)
    else:
        radius = [footprint_radius(crop, a, m) for a, m in zip(angle, magnification, strict=True)]
        window = min(2 * math.ceil(max(radius)) + 4, height, width)
        windows, grids = [], []
        offsets = torch.arange(crop, dtype=torch.float64) - (crop - 1) / 2.0
        oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
        for i, a, m, r, (py, px) in zip(index, angle, magnification, radius, position, strict=True):
            if 2 * r > min(height, width) - 1:
                fits = largest_crop(min(height, width), augmentation)
                raise InputError(
                    f"crop {crop} px does not fit the images ({height}x{width} px) once rotated "
                    f"and rescaled: use a crop of at most {fits} px"
                )
            cy = r + py * (height - 1 - 2 * r)
            cx = r + px * (width - 1 - 2 * r)
            y0 = min(max(round(cy - window / 2), 0), height - window)
            x0 = min(max(round(cx - window / 2), 0), width - window)
            windows.append(images[i, y0 : y0 + window, x0 : x0 + window])
            sy, sx = _turned_coordinates(cy - y0, cx - x0, a, m, oy, ox)
            grids.append(torch.stack((sx, sy), dim=-1) * (2.0 / (window - 1)) - 1.0)
        source = torch.stack(windows)[:, None].to(device)
        grid = torch.stack(grids).to(device=device, dtype=images.dtype)
        out = F.grid_sample(source, grid, mode="bicubic", padding_mode="border", align_corners=True)
        out = out[:, 0]
    if augmentation.flips:
        for k, (flip_y, flip_x) in enumerate(flips):
            dims = [d for d, flip in ((0, flip_y), (1, flip_x)) if flip]
            if dims:
                out[k] = torch.flip(out[k], dims)
    if augmentation.quarter_turns:
        turns = rng.integers(4, size=batch)
        for k, turn in enumerate(turns):
            if turn:
                out[k] = torch.rot90(out[k], int(turn), dims=(0, 1))
    return out[:, None].contiguous()


def poisson_noise(expected: torch.Tensor, seed: int) -> torch.Tensor:
    """Poisson counts with the given expectations (negative values are clipped to 0).

    Parameters
    ----------
    expected : torch.Tensor
        Expected counts per pixel.
    seed : int
        Seed of the generator (on the tensor's device).
    """
    generator = torch_generator(seed, expected.device)
    return torch.poisson(expected.clamp(min=0.0), generator=generator)


@dataclass
class ValidationSet:
    """Fixed noisy/clean validation crops (network units) and how to score an estimate.

    Attributes
    ----------
    inputs, targets : torch.Tensor
        ``(n, 1, size, size)`` noisy input and clean target, in network units.
    to_detector : numpy.ndarray
        ``(n,)`` factor per crop from network units to expected e- per detector pixel at the
        reference dose (the dataset's nominal dose), so that crops drawn at different doses are
        scored on one scale (peak 1 e-/px at the reference dose).
    doses : numpy.ndarray
        ``(n,)`` vacuum counts per working pixel each crop was drawn at.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    to_detector: np.ndarray
    doses: np.ndarray

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def psnr_values(self, estimates: torch.Tensor, indices: np.ndarray | None = None) -> np.ndarray:
        """PSNR (dB, peak 1 e-/px, estimate clipped to [0, 1]) of each crop at the detector scale.

        Parameters
        ----------
        estimates : torch.Tensor
            ``(k, 1, size, size)`` network outputs for the crops ``indices`` (default: all).
        indices : numpy.ndarray, optional
            Which validation crops the estimates belong to.
        """
        if indices is None:
            indices = np.arange(len(self))
        scale = self.to_detector[indices][:, None, None]
        estimate = estimates.detach().double().cpu().numpy()[:, 0] * scale
        truth = self.targets[indices].double().cpu().numpy()[:, 0] * scale
        return np.array([psnr(e, t) for e, t in zip(estimate, truth, strict=True)])

    def noisy_psnr(self) -> float:
        """Mean PSNR of the noisy inputs themselves (unclipped, as the papers' raw row), dB."""
        scale = self.to_detector[:, None, None]
        estimate = self.inputs.double().numpy()[:, 0] * scale
        truth = self.targets.double().numpy()[:, 0] * scale
        return float(
            np.mean([psnr(e, t, clip=False) for e, t in zip(estimate, truth, strict=True)])
        )


@dataclass
class TrainingData:
    """Clean working-grid images in memory and everything needed to draw batches from them.

    Attributes
    ----------
    train_images : torch.Tensor
        ``(N, H, W)`` float32, CPU: expected counts per working pixel at the training dose, or,
        with a dose range, at a vacuum of 1 count per working pixel.
    validation : ValidationSet or None
        Fixed validation crops; None for a mixed source, which judges nothing.
    factor : int
        Binning factor from detector to working grid.
    pixel_size : float
        Nominal detector pixel size of the dataset, A/px.
    sampling : float
        Working sampling used, ``factor * pixel_size``, A/px.
    dose : float
        Nominal dose, e-/px in vacuum on the detector grid.
    input_scale : float
        Network input per expected count per working pixel, ``1 / (dose * factor**2)`` (used by
        ``"fixed"`` normalization only).
    normalization : str
        ``"frame_mean"`` (inputs divided by their own mean count) or ``"fixed"``.
    dose_range_working : tuple of float or None
        Vacuum counts per working pixel between which crops' doses are drawn (log-uniform), or
        None for the images' own dose.
    train_indices, val_indices : numpy.ndarray
        Dataset indices of the training and validation images.
    summary : dict
        What the model was trained on, for its card (JSON-able).
    dataset_spec : dict
        The dataset's own specification (optics, detector, specimen grid, nuisance ranges).
    """

    train_images: torch.Tensor
    validation: ValidationSet | None
    factor: int
    pixel_size: float
    sampling: float
    dose: float
    input_scale: float
    train_indices: np.ndarray
    val_indices: np.ndarray
    normalization: str = "fixed"
    dose_range_working: tuple[float, float] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    dataset_spec: dict[str, Any] = field(default_factory=dict)

    @property
    def dose_working(self) -> float:
        """Nominal dose per working pixel in vacuum, e-/px."""
        return self.dose * self.factor**2

    def steps_per_epoch(self, crop: int, batch: int, world_size: int = 1) -> int:
        """Steps for the crops of all processes to cover the training pixels once."""
        pixels = (
            self.train_images.shape[0] * self.train_images.shape[1] * self.train_images.shape[2]
        )
        return max(1, math.ceil(pixels / (crop * crop * batch * world_size)))

    def batch(
        self,
        spec: TrainSpec,
        step: int,
        rank: int = 0,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy inputs and clean targets of one step of one process, in network units.

        Parameters
        ----------
        spec : TrainSpec
            Crop size, batch size, augmentation and seed.
        step : int
            Step number (0-based); with ``spec.seed`` and ``rank`` it fixes every random draw.
        rank : int
            Process rank in a distributed run.
        device : torch.device or str
            Where the batch is made and returned.

        Returns
        -------
        inputs, targets : torch.Tensor
            ``(batch, 1, crop, crop)`` float32.
        """
        inputs, targets, _ = self.weighted_batch(spec, step, rank, device)
        return inputs, targets

    def weighted_batch(
        self, spec: TrainSpec, step: int, rank: int = 0, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`batch` and the loss weight of each crop (same draws, same crops).

        Returns
        -------
        inputs, targets : torch.Tensor
            ``(batch, 1, crop, crop)`` float32, as :meth:`batch`.
        weights : torch.Tensor
            ``(batch,)`` float32: ones, or with ``spec.loss_weighting == "dose"`` each crop's dose
            over the mean dose of the range (:func:`dose_weights`).
        """
        rng = step_generator(spec.seed, step, rank)
        clean = augmented_crops(
            self.train_images, rng, spec.batch, spec.crop, spec.augmentation, device
        )
        weights = torch.ones(spec.batch, dtype=torch.float32, device=device)
        doses = None
        if self.dose_range_working is not None:
            doses = draw_doses(rng, spec.batch, self.dose_range_working)
            if spec.loss_weighting == "dose":
                weights = torch.from_numpy(dose_weights(doses, self.dose_range_working)).to(device)
        noise_seed = int(rng.integers(2**62))
        # drawn last, and only when asked for: the crops and doses stay those of a run without
        if spec.vacuum_crops > 0:
            clean = with_vacuum_crops(clean, rng, spec.vacuum_crops)
        if doses is not None:
            clean = clean * torch.from_numpy(doses).to(clean)[:, None, None, None]
        noisy = poisson_noise(clean, noise_seed)
        inputs, targets = self.to_network(noisy, clean)
        return inputs, targets, weights

    def to_network(
        self, noisy: torch.Tensor, clean: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Counts and expectations per working pixel -> network inputs and targets.

        Parameters
        ----------
        noisy, clean : torch.Tensor
            ``(n, 1, h, w)`` counts and expected counts per working pixel.
        """
        scale = input_scales(noisy, self.normalization, self.input_scale)
        return noisy * scale, clean * scale


@dataclass
class TrainingSources:
    """The training data of a spec's dataset and of its mixed sources, and which step uses which.

    Step ``k`` draws its whole batch from source ``cycle[k % len(cycle)]`` with that source's
    crop and batch (:meth:`TrainSpec.source_cycle`), from a generator seeded by the spec's seed
    and the step, as a single-source run does: a resumed mixed run sees the data of an
    uninterrupted one. Without mixed sources the cycle is ``(0,)`` and every batch is the one
    :meth:`TrainingData.weighted_batch` draws for the spec.

    Attributes
    ----------
    sources : list of TrainingData
        The spec's own dataset first (its validation crops judge the run), then each mix.
    specs : list of TrainSpec
        The spec that draws each source's batches (:meth:`TrainSpec.source_spec`).
    cycle : tuple of int
        Source number of each step of a cycle.
    """

    sources: list[TrainingData]
    specs: list[TrainSpec]
    cycle: tuple[int, ...]

    @property
    def primary(self) -> TrainingData:
        """The spec's own dataset: its validation crops, sampling and dose scaling."""
        return self.sources[0]

    def source_of_step(self, step: int) -> int:
        """Number of the source step ``step`` (0-based) draws its batch from."""
        return self.cycle[step % len(self.cycle)]

    def weighted_batch(
        self, step: int, rank: int = 0, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs, targets and crop weights of one step, from the step's source.

        Parameters
        ----------
        step : int
            Step number (0-based).
        rank : int
            Process rank in a distributed run.
        device : torch.device or str
            Where the batch is made and returned.

        Returns
        -------
        inputs, targets, weights : torch.Tensor
            As :meth:`TrainingData.weighted_batch`, at the source's crop and batch.
        """
        number = self.source_of_step(step)
        return self.sources[number].weighted_batch(self.specs[number], step, rank, device)

    def steps_per_epoch(self, world_size: int = 1) -> int:
        """Steps for the crops of all processes to cover every source's training pixels once."""
        pixels = sum(int(np.prod(data.train_images.shape)) for data in self.sources)
        per_cycle = sum(self.specs[n].crop ** 2 * self.specs[n].batch for n in self.cycle)
        return max(1, math.ceil(pixels * len(self.cycle) / (per_cycle * world_size)))

    def describe(self) -> str:
        """The mix in words, for a run's first lines (empty without mixed sources)."""
        if len(self.sources) == 1:
            return ""
        parts = []
        for number, (data, spec) in enumerate(zip(self.sources, self.specs, strict=True)):
            share = self.cycle.count(number)
            parts.append(
                f"{share} of {spec.batch} crops of {spec.crop} px from "
                f"{Path(spec.dataset).name} ({len(data.train_indices)} images)"
            )
        return f"each cycle of {len(self.cycle)} steps: " + ", ".join(parts)

    def mix_summary(self) -> list[dict[str, Any]]:
        """What each mixed source contributed, for the model card (JSON-able)."""
        return [
            {
                "dataset": data.summary["dataset"],
                "dataset_name": data.summary["dataset_name"],
                "n_train_images": data.summary["n_train_images"],
                "n_train_structures": data.summary["n_train_structures"],
                "crop_px": spec.crop,
                "batch": spec.batch,
                "share": self.cycle.count(number),
            }
            for number, (data, spec) in enumerate(
                zip(self.sources[1:], self.specs[1:], strict=True), start=1
            )
        ]


def load_training_sources(spec: TrainSpec, multiple: int = 1) -> TrainingSources:
    """Load the spec's dataset and every dataset it mixes in, at one working sampling.

    Parameters
    ----------
    spec : TrainSpec
        The run's spec (``mix`` empty: one source).
    multiple : int
        The network needs input sizes divisible by this.

    Returns
    -------
    TrainingSources

    Raises
    ------
    InputError
        When a mixed dataset cannot be brought to the working sampling of the spec's own
        dataset (its pixel size is not an integer fraction of it), or a crop does not fit.
    """
    primary = load_training_data(spec, multiple)
    sources, specs = [primary], [spec]
    for number in range(1, len(spec.mix) + 1):
        source_spec = spec.source_spec(number).model_copy(update={"sampling": primary.sampling})
        data = load_training_data(source_spec, multiple, validation=False)
        if not math.isclose(data.sampling, primary.sampling, rel_tol=0.01):
            raise InputError(
                f"mixed dataset {source_spec.dataset} bins to {data.sampling:.4f} A/px, not the "
                f"{primary.sampling:.4f} A/px of {spec.dataset}: mix datasets whose pixel sizes "
                "divide the working sampling"
            )
        sources.append(data)
        specs.append(source_spec)
    return TrainingSources(sources, specs, spec.source_cycle())


def with_vacuum_crops(
    clean: torch.Tensor, rng: np.random.Generator, fraction: float
) -> torch.Tensor:
    """Replace each crop, with probability ``fraction``, by pure vacuum (ones).

    Parameters
    ----------
    clean : torch.Tensor
        ``(batch, 1, h, w)`` noise-free crops at a vacuum of one count per working pixel.
    rng : numpy.random.Generator
        The step's generator (one uniform draw per crop).
    fraction : float
        Probability of a crop being vacuum, in [0, 1).

    Returns
    -------
    torch.Tensor
        The crops, vacuum ones flat at 1 (a new tensor when any is replaced).
    """
    chosen = torch.from_numpy(rng.random(len(clean)) < fraction).to(clean.device)
    if not bool(chosen.any()):
        return clean
    return torch.where(chosen[:, None, None, None], torch.ones_like(clean), clean)


def draw_doses(rng: np.random.Generator, n: int, dose_range: tuple[float, float]) -> np.ndarray:
    """``n`` doses drawn log-uniformly in ``dose_range`` (any unit; returned in it), float32."""
    low, high = np.log(dose_range[0]), np.log(dose_range[1])
    return np.exp(rng.uniform(low, high, size=n)).astype(np.float32)


def dose_weights(doses: np.ndarray, dose_range: tuple[float, float]) -> np.ndarray:
    """Loss weight of crops drawn log-uniformly in ``dose_range``: dose over the range's mean dose.

    In network units (counts over the frame mean) the error of a denoiser falls with dose, so an
    unweighted loss is ruled by the lowest doses. Weighting each crop's MSE by its dose balances
    them; dividing by the mean dose of the log-uniform draw, ``(high - low) / ln(high / low)``,
    keeps the average weight at one so the learning rate keeps its meaning.

    Parameters
    ----------
    doses : numpy.ndarray
        Doses of the crops (any unit, that of ``dose_range``).
    dose_range : tuple of float
        ``(low, high)`` of the draw.

    Returns
    -------
    numpy.ndarray
        float32 weights, same shape as ``doses``.
    """
    low, high = dose_range
    mean = low if high <= low else (high - low) / np.log(high / low)
    return (np.asarray(doses, dtype=np.float64) / mean).astype(np.float32)


def input_scales(
    counts: torch.Tensor, normalization: str, input_scale: float = 1.0
) -> torch.Tensor:
    """Factor per image that brings counts to network units.

    Parameters
    ----------
    counts : torch.Tensor
        ``(n, 1, h, w)`` noisy counts per working pixel.
    normalization : str
        ``"frame_mean"``: one over each image's mean count (at least one count over the image);
        ``"fixed"``: ``input_scale`` for every image.
    input_scale : float
        The fixed factor.

    Returns
    -------
    torch.Tensor
        ``(n, 1, 1, 1)`` factors.
    """
    n = counts.shape[0]
    if normalization == "fixed":
        return torch.full(
            (n, 1, 1, 1), float(input_scale), dtype=counts.dtype, device=counts.device
        )
    pixels = counts.shape[-1] * counts.shape[-2]
    mean = counts.mean(dim=(1, 2, 3), keepdim=True).clamp(min=1.0 / pixels)
    return 1.0 / mean


def select_indices(dataset: SimulatedDataset, spec: TrainSpec) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation image indices after the spec's filters.

    With ``filters.max_train_images`` the training images are a random subset of that size,
    drawn with the spec's seed (the same spec always trains on the same images).

    Raises
    ------
    InputError
        When no training or no validation image is left.
    """
    train = dataset.indices(split="train", **spec.filters.criteria())
    val = dataset.indices(split="val", **spec.filters.criteria(include_structures=False))
    if len(train) == 0:
        raise InputError(
            f"no training images left after the filters {spec.filters.criteria()}", dataset.path
        )
    if len(val) == 0:
        raise InputError(
            "no validation images (split 'val') left after the filters "
            f"{spec.filters.criteria(include_structures=False)}",
            dataset.path,
        )
    limit = spec.filters.max_train_images
    if limit is not None and len(train) > limit:
        chosen = np.random.default_rng(spec.seed).choice(train, size=limit, replace=False)
        train = np.sort(chosen)
    return train, val


def _working_images(
    dataset: SimulatedDataset, indices: np.ndarray, factor: int, dose: float | None
) -> np.ndarray:
    """Binned images rescaled to a vacuum of ``dose`` e- per *detector* pixel (None: as stored)."""
    parts = []
    for start in range(0, len(indices), _READ_CHUNK):
        chunk = indices[start : start + _READ_CHUNK]
        binned = bin_sum(dataset.images(chunk), factor)
        if dose is not None:
            binned *= (dose / dataset.params["dose"][chunk]).astype(np.float32)[:, None, None]
        parts.append(binned)
    return np.concatenate(parts)


def _turned_validation_crops(
    images: np.ndarray,
    which: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    size: int,
    rotation_deg: float,
) -> np.ndarray:
    """Validation crops turned by angles spread evenly over +-``rotation_deg`` (degrees).

    Each crop is resampled (bicubic) from a window around the centre of the upright crop at
    ``rows``, ``cols``, moved inwards where the turned footprint would leave the image.
    """
    _, height, width = images.shape
    count = len(which)
    angles = np.linspace(-rotation_deg, rotation_deg, count) if count > 1 else np.zeros(1)
    angles = angles[np.random.default_rng(count).permutation(count)]  # not tied to the doses
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
    crops = []
    for i, r, c, angle in zip(which, rows, cols, angles, strict=True):
        radius = footprint_radius(size, float(angle), 1.0)
        if 2 * radius > min(height, width) - 1:
            raise InputError(
                f"validation crops of {size} px do not fit the images ({height}x{width} px) "
                f"turned by {rotation_deg:g} degrees: lower val_crop or val_rotation_deg"
            )
        cy = min(max(r + (size - 1) / 2.0, radius), height - 1 - radius)
        cx = min(max(c + (size - 1) / 2.0, radius), width - 1 - radius)
        sy, sx = _turned_coordinates(cy, cx, float(angle), 1.0, oy, ox)
        grid = torch.stack((sx * (2.0 / (width - 1)) - 1.0, sy * (2.0 / (height - 1)) - 1.0), -1)
        source = torch.from_numpy(np.ascontiguousarray(images[i], dtype=np.float32))[None, None]
        out = F.grid_sample(
            source, grid[None].float(), mode="bicubic", padding_mode="border", align_corners=True
        )
        crops.append(out[0, 0].numpy())
    return np.stack(crops)


def _validation_set(
    images: np.ndarray,
    spec: TrainSpec,
    *,
    data: TrainingData,
    multiple: int,
) -> ValidationSet:
    """Fixed validation crops; with a dose range, crops cycle through doses spread over it."""
    n, height, width = images.shape
    size = spec.val_crop or spec.crop
    size = min(size, height, width)
    size -= size % multiple
    if size < multiple:
        raise InputError(f"validation images ({height}x{width} px) are too small for the network")
    rng = np.random.default_rng([spec.val_seed, _VAL_STREAM])
    which = np.arange(spec.val_crops) % n
    rows = rng.integers(0, height - size + 1, size=spec.val_crops)
    cols = rng.integers(0, width - size + 1, size=spec.val_crops)
    if spec.val_rotation_deg > 0:
        clean = _turned_validation_crops(images, which, rows, cols, size, spec.val_rotation_deg)
    else:
        clean = np.stack(
            [
                images[i, r : r + size, c : c + size]
                for i, r, c in zip(which, rows, cols, strict=True)
            ]
        )
    if spec.val_orientations:
        symmetry = (np.arange(spec.val_crops) // VAL_DOSE_LEVELS) % N_SYMMETRIES
        clean = np.stack(
            [square_symmetry(crop, int(k)) for crop, k in zip(clean, symmetry, strict=True)]
        )
    reference = data.dose_working
    if data.dose_range_working is None:
        doses = np.full(spec.val_crops, reference)
    else:
        low, high = data.dose_range_working
        levels = np.geomspace(low, high, min(VAL_DOSE_LEVELS, spec.val_crops))
        doses = levels[np.arange(spec.val_crops) % len(levels)]
        clean = clean * doses[:, None, None].astype(np.float32)
    clean_t = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32))[:, None]
    noisy = poisson_noise(clean_t, int(rng.integers(2**62)))
    scales = input_scales(noisy, data.normalization, data.input_scale)
    inputs, targets = noisy * scales, clean_t * scales
    scale = scales.double().numpy().ravel()
    # network units -> counts per working pixel (1 / scale) -> vacuum of the reference dose on
    # the detector grid (x reference / dose / b^2)
    to_detector = (1.0 / scale) * (reference / doses) / data.factor**2
    return ValidationSet(inputs, targets, to_detector, doses.astype(np.float64))


def load_training_data(
    spec: TrainSpec, multiple: int = 1, *, validation: bool = True
) -> TrainingData:
    """Read, filter and bin the dataset of a spec, and fix the validation crops.

    Parameters
    ----------
    spec : TrainSpec
        Dataset, filters, sampling, dose, crop sizes and seed.
    multiple : int
        The network needs input sizes divisible by this (validation crops are cut to it).
    validation : bool
        Build the validation crops. A mixed source (:func:`load_training_sources`) does not:
        the spec's own dataset judges the run. Its validation images are still held out of
        training, so the split is the same either way.

    Returns
    -------
    TrainingData

    Raises
    ------
    InputError
        When the filters leave no image, the pixel sizes need different binning factors, or the
        crop does not fit the binned images.
    """
    dataset = SimulatedDataset(spec.dataset)
    train, val = select_indices(dataset, spec)
    pixel_sizes = dataset.params["pixel_size"]
    used = np.concatenate([train, val])
    nominal_pixel = nominal_pixel_size(pixel_sizes[used])
    # a store packed at the working grid (training.pack) was binned by ``prebinned`` already:
    # it is binned no further by default, and reports in the original detector's units
    packed = dataset.spec.get(PACKED_KEY) or {}
    prebinned = int(packed.get("binning", 1))
    default_sampling = float(packed["sampling"]) if packed else 4.0 * nominal_pixel
    if not packed and spec.init_from is not None:  # a warm start keeps the network's grid
        default_sampling = warm_start_sampling(spec.init_from) or default_sampling
    sampling = spec.sampling if spec.sampling is not None else default_sampling
    factor = common_binning(pixel_sizes[used], sampling, dataset.path)
    # spec.dose is per pixel of the original detector; a packed store's pixels hold prebinned**2
    nominal_dose = None if spec.dose is None else spec.dose * prebinned**2
    if nominal_dose is None:
        nominal_dose = float(dataset.spec.get("detector", {}).get("dose", 0.0)) or float(
            np.median(dataset.params["dose"][used])
        )
    input_scale = 1.0 / (nominal_dose * factor**2)
    sampling_used = factor * nominal_pixel
    if spec.dose_range is None:
        dose_range_working = None
        fixed = None if spec.dose is None else nominal_dose  # None: each image's own dose
        train_images = _working_images(dataset, train, factor, fixed)
        val_images = _working_images(dataset, val, factor, fixed) if validation else None
    else:
        # a vacuum of one count per working pixel; each crop is scaled to its drawn dose
        dose_range_working = (
            spec.dose_range[0] * sampling_used**2,
            spec.dose_range[1] * sampling_used**2,
        )
        unit = 1.0 / factor**2
        train_images = _working_images(dataset, train, factor, unit)
        val_images = _working_images(dataset, val, factor, unit) if validation else None
    _, height, width = train_images.shape
    if spec.crop % multiple:
        raise InputError(f"crop {spec.crop} px is not a multiple of {multiple} (the network's)")
    fits = largest_crop(min(height, width), spec.augmentation)
    if spec.crop > fits:
        raise InputError(
            f"crop {spec.crop} px does not fit the training images ({height}x{width} px at "
            f"{factor * nominal_pixel:.4f} A/px) with this augmentation: use --crop {fits} or less"
        )
    params = dataset.params
    summary = {
        "dataset": str(dataset.path.parent),
        "dataset_name": dataset.spec.get("name"),
        "n_train_images": len(train),
        "n_val_images": len(val),
        "n_train_structures": len(np.unique(params["structure_id"][train])),
        "contrast": sorted({str(c) for c in params["contrast"][train]}),
        "defects": sorted({str(d) for d in params["defect"][train]}) if "defect" in params else [],
        "defocus_values": sorted({float(d) for d in params["defocus_nm"][train]}),
        "defocus_nm": [
            float(params["defocus_nm"][train].min()),
            float(params["defocus_nm"][train].max()),
        ],
        "detector_pixel_size": nominal_pixel / prebinned,
        "dose_detector": nominal_dose / prebinned**2,
        "dose_range_e_per_A2": list(spec.dose_range) if spec.dose_range is not None else None,
        "normalization": spec.normalization,
        "binning": factor * prebinned,
        "packed": bool(packed),
        "filters": spec.filters.model_dump(mode="json"),
    }
    if "support_thickness_nm" in params:
        thickness = params["support_thickness_nm"][train]
        summary["support_thickness_nm"] = [float(thickness.min()), float(thickness.max())]
    data = TrainingData(
        train_images=torch.from_numpy(train_images),
        validation=None,  # set below: it needs the data's scaling
        factor=factor * prebinned,
        pixel_size=nominal_pixel / prebinned,
        sampling=sampling_used,
        dose=nominal_dose / prebinned**2,
        input_scale=input_scale,
        train_indices=train,
        val_indices=val,
        normalization=spec.normalization,
        dose_range_working=dose_range_working,
        summary=summary,
        dataset_spec=dict(dataset.spec),
    )
    if val_images is not None:
        data.validation = _validation_set(val_images, spec, data=data, multiple=multiple)
    return data
