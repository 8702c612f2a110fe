"""The training specification (pydantic, YAML round trip): what defines a training run.

Everything that changes the trained weights lives here (data, filters, network, optimisation,
seed); options that only change how a run is executed (threads, progress bar, device) do not,
so a run folder can be resumed on another machine with the same spec.

Units: ``sampling`` in angstrom per pixel, ``dose`` in electrons per detector pixel in vacuum,
``dose_range`` in electrons per square angstrom, ``crop`` in pixels at the working sampling,
``checkpoint_minutes`` in minutes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sbdenoise.config import _Model


def _ordered_range(
    value: tuple[float, float] | None, name: str, unit: str = ""
) -> tuple[float, float] | None:
    """Check that a ``(low, high)`` range (or None) satisfies ``0 < low <= high``.

    Parameters
    ----------
    value : tuple of float or None
        The range, in the units ``unit`` names.
    name : str
        What the error message calls it.
    unit : str
        Units shown in the error message, with a leading space (empty when dimensionless).

    Returns
    -------
    tuple of float or None
        ``value`` unchanged.
    """
    if value is not None and not 0 < value[0] <= value[1]:
        raise ValueError(f"{name} must satisfy 0 < low <= high{unit}, got {value}")
    return value


class Augmentation(_Model):
    """Geometric augmentation of the clean crops (applied before the noise is drawn)."""

    flips: bool = Field(True, description="Random horizontal and vertical flips.")
    quarter_turns: bool = Field(
        False,
        description=(
            "Random turns by a multiple of 90 degrees (exact, no interpolation). With flips they "
            "give all eight symmetries of the square, so a small `rotation_deg` still shows the "
            "network every orientation of the support, and the crop can be larger: the "
            "interpolated footprint grows with the continuous angle only."
        ),
    )
    rotation_deg: float = Field(
        45.0, ge=0, le=180, description="Rotations drawn uniformly in +-rotation_deg, degrees."
    )
    scale: tuple[float, float] | None = Field(
        (0.955, 1.055),
        description="Magnification drawn uniformly in this range (None: no rescaling).",
    )

    @field_validator("scale")
    @classmethod
    def _check_scale(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        return _ordered_range(value, "scale range")

    @property
    def interpolates(self) -> bool:
        """True when crops are resampled (rotation or rescaling), False for plain crops."""
        return self.rotation_deg > 0 or self.scale is not None


class Filters(_Model):
    """Which images of the dataset to train on (None: no restriction).

    The validation images are the ``val`` split with the same filters, except ``structure_ids``
    (structures are split between train, val and test, so a list of structure ids selects
    training structures only).
    """

    contrast: list[str] | None = Field(None, description="Contrast classes, e.g. ['white'].")
    structure_ids: list[int] | None = Field(None, description="Structure ids to train on.")
    defect: list[str] | None = Field(None, description="Defect classes, e.g. ['none', 'adatom'].")
    defocus_nm: tuple[float, float] | None = Field(
        None, description="Defocus range (abTEM sign), nm, bounds included."
    )
    support_thickness_nm: tuple[float, float] | None = Field(
        None, description="Support thickness range, nm, bounds included."
    )
    particle_diameter_nm: tuple[float, float] | None = Field(
        None, description="Particle diameter range, nm, bounds included."
    )
    max_train_images: int | None = Field(
        None,
        ge=1,
        description=(
            "At most this many training images, a random subset drawn with the spec's seed "
            "(subsets of equal size make trainings on different conditions comparable)."
        ),
    )

    def criteria(self, include_structures: bool = True) -> dict[str, Any]:
        """Keyword arguments for :meth:`SimulatedDataset.indices` (lists: any of, tuples: range)."""
        criteria: dict[str, Any] = {}
        for name in ("contrast", "defect"):
            value = getattr(self, name)
            if value is not None:
                criteria[name] = list(value)
        if include_structures and self.structure_ids is not None:
            criteria["structure_id"] = list(self.structure_ids)
        for name in ("defocus_nm", "support_thickness_nm", "particle_diameter_nm"):
            value = getattr(self, name)
            if value is not None:
                criteria[name] = (min(value), max(value))
        return criteria


class MixedSource(_Model):
    """A further dataset whose crops train the same network, in steps of their own.

    Steps cycle through the spec's own dataset (``TrainSpec.share`` steps) and then each mixed
    source (``share`` steps each); a step's batch comes from one source only, so a source can
    have its own crop size (e.g. 256 px crops of wide fields of view beside 128 px crops of
    particles). The mixed sources use the spec's filters, doses, augmentation and losses; the
    validation crops stay those of the spec's own dataset.
    """

    dataset: str = Field(description="Dataset folder (or its dataset.h5), as written by simulate.")
    crop: int = Field(ge=8, description="Crop size of this source's steps, px at working sampling.")
    batch: int = Field(ge=1, description="Crops per step and per process in this source's steps.")
    share: int = Field(1, ge=1, description="Steps of each cycle drawn from this source.")


class TrainSpec(_Model):
    """Everything that defines a training run; the same spec and seed give the same weights.

    Examples
    --------
    >>> spec = TrainSpec(dataset="data/shipped", steps=20000)
    >>> spec.architecture, spec.lr
    ('unet', 0.001)
    """

    dataset: str = Field(description="Dataset folder (or its dataset.h5), as written by simulate.")
    architecture: str = Field("unet", description="Network: unet, dncnn or small-unet.")
    architecture_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Keyword arguments of sbdenoise.nn.build_model (empty: the architecture's defaults; "
            "UNet: scales 5, base_channels 32)."
        ),
    )
    sampling: float | None = Field(
        None,
        gt=0,
        description=(
            "Working sampling, A/px (None: the init_from model's, else 4 x the dataset pixel size, "
            "or the sampling a packed "
            "store was binned to). Images are binned by the "
            "nearest integer factor, so the sampling used is that factor x the pixel size."
        ),
    )
    crop: int = Field(128, ge=8, description="Training crop size, px at the working sampling.")
    batch: int = Field(8, ge=1, description="Crops per step and per process.")
    steps: int | None = Field(None, ge=1, description="Optimisation steps (or give epochs).")
    epochs: float | None = Field(
        None,
        gt=0,
        description="Training length in epochs when steps is not given (neither: 100 epochs).",
    )
    steps_per_epoch: int | None = Field(
        None,
        ge=1,
        description=(
            "Steps per epoch (None: enough crops to cover the training pixels once, over all "
            "processes)."
        ),
    )
    validate_every: int | None = Field(
        None, ge=1, description="Steps between validations (None: once per epoch)."
    )
    val_crops: int = Field(32, ge=1, description="Number of fixed validation crops.")
    val_seed: int = Field(
        0,
        ge=0,
        description=(
            "Seed of the validation crops and their noise. Independent of `seed`, so that runs "
            "with different seeds on the same dataset and filters validate on the same crops "
            "and their PSNRs compare."
        ),
    )
    val_crop: int | None = Field(
        None, ge=8, description="Validation crop size, px at the working sampling (None: crop)."
    )
    val_orientations: bool = Field(
        False,
        description=(
            "Turn or mirror the validation crops through the eight symmetries of the square "
            "(cycling independently of the validation doses), so that validation also measures "
            "how well the network serves frames whose support is not below the particle. Off: "
            "the crops as simulated (upright), as before."
        ),
    )
    val_rotation_deg: float = Field(
        0.0,
        ge=0,
        le=45,
        description=(
            "Turn each validation crop by a fixed angle spread evenly over +-this, degrees "
            "(cubic resampling, as the training crops), before `val_orientations`: with 45 the "
            "validation also sees oblique angles, which the eight symmetries of the square "
            "never show. 0: the crops as cut (as before)."
        ),
    )
    mix: list[MixedSource] = Field(
        default_factory=list,
        description=(
            "Further datasets trained on in steps of their own, each with its own crop and batch "
            "(empty: the spec's dataset only). Needs a dose range: every source is then drawn "
            "at the same doses per area."
        ),
    )
    share: int = Field(
        1,
        ge=1,
        description="Steps of each cycle drawn from the spec's own dataset when `mix` adds more.",
    )
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    warmup_steps: int = Field(
        0,
        ge=0,
        description=(
            "Steps over which the learning rate rises linearly from lr / warmup_steps to lr at "
            "the start of the run (0: none); the plateau schedule acts only after them. For a "
            "warm start with a fresh optimiser, whose first Adam steps are full-size in every "
            "weight: v17 continued without one lost 0.16 dB of validation PSNR in 250 steps and "
            "took about 1,250 to make it back (campaign/README.md, run al)."
        ),
    )
    cooldown_steps: int = Field(
        0,
        ge=0,
        description=(
            "The last cooldown_steps steps of the run lower the learning rate linearly from the "
            "rate they start at towards 0 (its last step runs at that rate / cooldown_steps): a "
            "warmup-stable-decay schedule, whose constant-rate part can go on in one run while "
            "a short branch of it (branch_from) cools down into a model to ship. The plateau "
            "schedule and the learning-rate floor do not act during it. 0: none."
        ),
    )
    ema_decay: float | None = Field(
        None,
        ge=0.9,
        lt=1.0,
        description=(
            "Keep an exponential moving average of the weights with this decay per step (e.g. "
            "0.999: about the last 1,000 steps), validate and save it instead of the raw "
            "weights (Polyak averaging: it smooths out the noise of the last steps' gradients, "
            "which the random crops and Poisson draws make large). None: the raw weights."
        ),
    )
    vacuum_weight: float = Field(
        1.0,
        ge=1.0,
        description=(
            "Weight of the vacuum's squared error: pixels where the noise-free crop is flat count "
            "this many times (1: plain MSE). A blob invented in vacuum costs almost nothing in "
            "PSNR but is what users fear (sbdenoise.training.vacuum_loss)."
        ),
    )
    edge_weight: float = Field(
        1.0,
        ge=1.0,
        description=(
            "Weight of the squared error in the band next to the vacuum (non-flat pixels within "
            "edge_width_angstrom of a flat one: Fresnel fringes and column tails outside a "
            "particle, where a sharpening network draws false surface columns). 1: no band."
        ),
    )
    edge_width_angstrom: float = Field(
        4.0, ge=0.0, le=50.0, description="Reach of the edge band from the vacuum, angstrom."
    )
    vacuum_crops: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description=(
            "Fraction of crops replaced by pure vacuum (a flat noise-free crop at the crop's "
            "dose). The simulated images put specimen in every crop, so without them a network "
            "never sees a field of view with nothing in it; needs a dose range. Measured worse "
            "with the 5-scale batch-norm UNet (run v, campaign/README.md)."
        ),
    )
    freeze_batch_norm: bool = Field(
        False,
        description=(
            "Train with every batch norm in eval mode (normalised by the running statistics of "
            "the start, which stay as they are; gains and shifts still train), so training "
            "optimises the function inference runs. For fine-tuning a trained network on crops "
            "whose make-up differs from its old batches (wide fields, mostly vacuum)."
        ),
    )
    lr_factor: float = Field(0.5, gt=0, lt=1, description="Factor applied when PSNR stalls.")
    lr_patience: int = Field(
        5, ge=0, description="Validations without improvement before the lr is reduced."
    )
    min_lr: float = Field(1e-6, ge=0, description="Stop when the learning rate falls below this.")
    early_stop_patience: int = Field(
        15, ge=1, description="Validations without improvement before training stops."
    )
    min_improvement_db: float = Field(
        0.01, ge=0, description="A validation PSNR gain below this (dB) is not an improvement."
    )
    checkpoint_minutes: float = Field(5.0, gt=0, description="Minutes between checkpoints.")
    budget_minutes: float | None = Field(
        None,
        gt=0,
        description=(
            "Training time budget, minutes of wall time summed over resumes (None: no limit). "
            "When it is spent the run validates once more and stops ('time budget'); networks "
            "compared at equal CPU time get the same budget."
        ),
    )
    log_every: int = Field(50, ge=1, description="Steps between rows of the CSV log.")
    seed: int = Field(0, ge=0, description="Seed of initialisation, crops and noise.")
    filters: Filters = Field(default_factory=Filters)
    dose: float | None = Field(
        None,
        gt=0,
        description=(
            "Dose, e-/px in vacuum on the detector grid (None: each image's own dose). Clean "
            "images are rescaled to it before the noise is drawn."
        ),
    )
    dose_range: tuple[float, float] | None = Field(
        (40.0, 400.0),
        description=(
            "Vacuum doses per area, e-/A^2, drawn log-uniformly for every crop (dose is a "
            "nuisance: one model serves the whole range at any pixel size). None: every crop "
            "at the images' own dose, or at `dose`. 40-400 e-/A^2 is 0.15-1.5 e-/px at 0.061 A/px."
        ),
    )
    normalization: Literal["frame_mean", "fixed"] = Field(
        "frame_mean",
        description=(
            "What the network sees: 'frame_mean' divides the counts by their own mean (the "
            "frame's dose estimate; in HRTEM the mean is the vacuum dose within ~2 %) and "
            "multiplies the output back; 'fixed' multiplies by 1 / (dose x binning^2) of the "
            "training data (single-dose models)."
        ),
    )
    loss_weighting: Literal["uniform", "dose"] = Field(
        "uniform",
        description=(
            "How crops drawn at different doses count in the loss. 'uniform': plain MSE in "
            "network units, where the noisier low-dose crops dominate; 'dose': each crop's MSE "
            "weighted by its dose over the range's mean dose, which balances the per-dose error "
            "(the PSNR averaged over doses is what validation scores). Needs a dose range."
        ),
    )
    loss_norm: Literal["l2", "l1"] = Field(
        "l2",
        description=(
            "Pixel error of the loss: 'l2' (squared: the network estimates the posterior mean, "
            "which draws an uncertain column at a fraction of its height) or 'l1' (absolute: "
            "the posterior median, which draws a column the data make more likely than not at "
            "its height and leaves a less likely one out)."
        ),
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description=(
            "Arithmetic of the forward and backward passes: bf16 autocast with channels_last "
            "(fp32 master weights and loss), fp32, or auto: bf16 where the hardware has it "
            "(CUDA with bf16, CPUs with AVX512-BF16 or AMX), fp32 elsewhere."
        ),
    )
    augmentation: Augmentation = Field(default_factory=Augmentation)
    init_from: str | None = Field(
        None,
        description=(
            "Model file (.safetensors or its .json card) whose weights start a fresh run (warm "
            "start, new optimiser); its architecture must be this spec's, except that a UNet may "
            "start from a narrower one (widened without changing its output). Ignored when "
            "the run folder holds a checkpoint: resuming wins."
        ),
    )
    branch_from: str | None = Field(
        None,
        description=(
            "Training checkpoint of another run (its checkpoint.safetensors, or its run folder) "
            "that this run starts from: weights, optimiser state, moving average, random states "
            "and step count, so it goes on from that step with this spec's options (e.g. a "
            "cooldown) while the other run is left as it was. The learning rate it goes on at "
            "is the checkpoint's current one (after any plateau reductions), not lr. The "
            "network must be the same. "
            "Takes precedence over init_from, and is ignored when this run folder holds a "
            "checkpoint of its own: resuming wins."
        ),
    )
    deterministic: bool = Field(
        False, description="torch.use_deterministic_algorithms (bitwise-reproducible on CPU)."
    )

    @field_validator("dose_range")
    @classmethod
    def _check_dose_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        return _ordered_range(value, "dose range", " (e-/A^2)")

    @model_validator(mode="after")
    def _check(self) -> TrainSpec:
        if self.normalization == "fixed" and self.dose_range is not None:
            raise ValueError(
                "normalization 'fixed' scales every input by one training dose and cannot serve "
                "a dose range: use normalization 'frame_mean' or dose_range None"
            )
        if self.loss_weighting == "dose" and self.dose_range is None:
            raise ValueError(
                "loss_weighting 'dose' weights crops drawn over a dose range: set dose_range or "
                "use loss_weighting 'uniform'"
            )
        if self.vacuum_crops > 0 and self.dose_range is None:
            raise ValueError(
                "vacuum_crops are drawn at a vacuum of one count per working pixel, scaled to "
                "each crop's dose: set dose_range or vacuum_crops 0"
            )
        if self.mix and self.dose_range is None:
            raise ValueError(
                "mixed datasets are drawn at doses per area from a dose range, so that every "
                "source is scaled alike: set dose_range or leave mix empty"
            )
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        if self.steps is not None and self.warmup_steps + self.cooldown_steps > self.steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) and cooldown_steps ({self.cooldown_steps}) "
                f"do not fit in the run's {self.steps} steps"
            )
        if self.early_stop_patience <= self.lr_patience:
            raise ValueError(
                f"early_stop_patience ({self.early_stop_patience}) must be longer than "
                f"lr_patience ({self.lr_patience}), or the learning rate is never reduced"
            )
        return self

    def source_cycle(self) -> tuple[int, ...]:
        """Which source each step of a cycle draws from: 0 the spec's dataset, i the i-th mix.

        Examples
        --------
        >>> spec = TrainSpec(dataset="a", share=2, mix=[dict(dataset="b", crop=256, batch=2)])
        >>> spec.source_cycle()
        (0, 0, 1)
        """
        cycle = [0] * self.share
        for number, source in enumerate(self.mix, start=1):
            cycle += [number] * source.share
        return tuple(cycle)

    def source_spec(self, number: int) -> TrainSpec:
        """The spec that draws the batches of source ``number`` (0: this spec itself).

        Parameters
        ----------
        number : int
            0 for the spec's own dataset, i for ``mix[i - 1]``.

        Returns
        -------
        TrainSpec
            This spec with the source's dataset, crop and batch, and no mix.
        """
        if number == 0:
            return self
        source = self.mix[number - 1]
        return self.model_copy(
            update={
                "dataset": source.dataset,
                "crop": source.crop,
                "batch": source.batch,
                "mix": [],
                "share": 1,
            }
        )

    def total_steps(self, steps_per_epoch: int) -> int:
        """Number of optimisation steps of the run.

        Parameters
        ----------
        steps_per_epoch : int
            Steps in one epoch (used when ``steps`` is not set; 100 epochs by default).
        """
        if self.steps is not None:
            return self.steps
        epochs = 100.0 if self.epochs is None else self.epochs
        return max(1, round(epochs * steps_per_epoch))
