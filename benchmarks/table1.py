"""The papers' Table 1 on a project dataset's held-out test split, in one run.

Every method denoises the same noisy frames: the clean test images of a simulated dataset (split
``test``: structures never used for training, optionally one contrast class) each drawn with
``--realisations`` Poisson realisations at fixed seeds. Rows: the raw frame, low-pass, adaptive
Wiener, VST+NLM, VST+BM3D, PURE-LET (parameters tuned on the validation split over each
registry grid, as the papers did, unless ``--no-tune``), and the SBD networks DnCNN, small UNet
and UNet (rows of models not given are reported as "not trained"). Columns: mean +- std of PSNR
and SSIM over images x realisations, seconds per 1024 x 1024 frame (one counts frame made by
tiling a test image, median of ``--timing-runs`` runs after a warm-up, torch using as many threads
as the machine has CPUs) and the speed as a ratio to VST+BM3D measured in the same run.

A second table shows the UNet's PSNR on test images that differ from the training data in what the
training did not control: the dose (0.3, 0.45 and 0.6 e-/px; ``--dose-sweep``, on by default) and
focal spread, vibration blur and pixel size (datasets of the same test structures with one
nuisance changed; see :func:`robustness_spec`, ``--robustness-dataset`` and
``--simulate-robustness``).

Conventions
-----------
PSNR: peak 1 e-/px, ``10 log10(1 / MSE)`` against the clean expectation, estimate clipped to
[0, 1]; the raw frame is scored unclipped (about 3.5 dB at 0.45 e-/px), as in the papers. SSIM:
data range 1 (raw frame unclipped). Dose sweep: a clean image is expected counts with vacuum at
its dataset dose ``d0``; at dose ``d`` the truth is ``clean * d / d0`` and fresh Poisson noise is
drawn from it. The PSNR reported is still peak 1 e-/px against that rescaled truth (the papers'
convention at that dose); the table also gives the "dose-normalised" PSNR, with estimate and
truth both multiplied by ``d0 / d`` before scoring, which compares relative errors across doses.

Writes ``table1.json`` and ``table1.md`` into ``--output`` (``table1_quick.*`` with ``--quick``)::

    .venv/bin/python benchmarks/table1.py --dataset data/shipped \\
        --unet src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \\
        --dncnn runs/dncnn/model.safetensors --small-unet runs/small/model.safetensors
    .venv/bin/python benchmarks/table1.py --quick        # a few images, one realisation

Robustness datasets (the same test structures, one nuisance changed each)::

    .venv/bin/python benchmarks/table1.py --simulate-robustness data/robustness   # simulate + run
    .venv/bin/python benchmarks/table1.py --robustness-dataset data/robustness    # reuse them
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from sbdenoise.analysis.surface_calibration import spread_evenly as spread
from sbdenoise.baselines import BASELINES, tune_baseline
from sbdenoise.config import DatasetSpec
from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.metrics import psnr, ssim
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import STORE_NAME, SimulatedDataset

RESULTS = Path(__file__).resolve().parent / "results"
#: Side of the frame the speed is measured on, pixels.
TIMING_SIZE = 1024
#: Doses of the dose sweep, e-/px in vacuum.
SWEEP_DOSES = (0.3, 0.45, 0.6)
#: Targets of the issue.
TARGET_PSNR_DB = 38.0
TARGET_MARGIN_DB = 10.0
TARGET_SECONDS = 1.0
TARGET_CORES = 2
#: Seed of every noise draw (each draw gets its own stream from this and its position).
SEED = 20260
#: Reference method of the speed ratios.
REFERENCE = "vst-bm3d"

#: Rows of Table 1: (method key, label, kind).
ROWS: tuple[tuple[str, str, str], ...] = (
    ("raw", "raw frame (PSNR and SSIM unclipped)", "raw"),
    ("lowpass", "low-pass", "baseline"),
    ("wiener", "adaptive Wiener", "baseline"),
    ("vst-nlm", "VST + NLM", "baseline"),
    ("vst-bm3d", "VST + BM3D", "baseline"),
    ("pure-let", "PURE-LET", "baseline"),
    ("sbd-dncnn", "SBD + DnCNN", "sbd"),
    ("sbd-small-unet", "SBD + small UNet", "sbd"),
    ("sbd-unet", "SBD + UNet (shipped)", "sbd"),
)

#: A denoiser: ``denoiser(counts, pixel_size_angstrom) -> expected counts per pixel``.
Denoiser = Callable[[np.ndarray, float], np.ndarray]

console = Console(stderr=True, width=120)


# --------------------------------------------------------------------------- robustness specs


def robustness_spec(
    base: DatasetSpec,
    focal_spread_nm: float = 6.0,
    vibration_pm: float = 80.0,
    pixel_scales: Sequence[float] = (0.95, 1.05),
) -> list[tuple[str, DatasetSpec]]:
    """Specs of the base dataset's structures imaged with one nuisance changed at a time.

    Every spec keeps the base's seed, structure grid and split fractions, so its plan has the same
    structures in the same splits: its ``test`` split holds the base's held-out test structures.
    The nuisance draws of the base are replaced by fixed values (the base optics and detector),
    and every spec crops to the same number of pixels. The first spec, ``"nominal"``, changes
    nothing else and is the reference of the others.

    Parameters
    ----------
    base : DatasetSpec
        Spec of the dataset the model was tested on (e.g. the ``shipped`` preset).
    focal_spread_nm : float
        Focal spread of the ``focal-spread`` variant, nm.
    vibration_pm : float
        Isotropic vibration of the ``vibration`` variant, pm.
    pixel_scales : sequence of float
        Factors applied to the detector pixel size, one variant each.

    Returns
    -------
    list of (str, DatasetSpec)
        ``(name, spec)`` pairs; simulate each with
        :func:`sbdenoise.simulate.runner.run_simulation` (all splits) or
        :func:`simulate_split` (the test split only, about a tenth of the work).

    Examples
    --------
    >>> from sbdenoise.simulate.presets import shipped
    >>> [name for name, _ in robustness_spec(shipped())]
    ['nominal', 'focal-spread-6nm', 'vibration-80pm', 'pixel-size-x0.95', 'pixel-size-x1.05']
    """
    from sbdenoise.simulate.plan import default_image_size

    size = base.image_size or default_image_size(base)
    largest = max([1.0, *pixel_scales]) * base.detector.pixel_size
    size = min(size, int(np.floor(10.0 * base.specimen.cell_nm * 0.98 / largest)))
    nominal = base.model_dump(mode="json")
    nominal["nuisance"] = {}
    nominal["image_size"] = size

    def variant(name: str, section: str | None = None, **changes: float) -> tuple[str, DatasetSpec]:
        data = json.loads(json.dumps(nominal))
        if section is not None:
            data[section].update(changes)
        data["name"] = f"{base.name}-robustness-{name}"
        return name, DatasetSpec.model_validate(data)

    specs = [
        variant("nominal"),
        variant(f"focal-spread-{focal_spread_nm:g}nm", "optics", focal_spread_nm=focal_spread_nm),
        variant(f"vibration-{vibration_pm:g}pm", "optics", vibration_pm=vibration_pm),
    ]
    for scale in pixel_scales:
        pixel = base.detector.pixel_size * float(scale)
        specs.append(variant(f"pixel-size-x{scale:g}", "detector", pixel_size=pixel))
    return specs


def simulate_split(
    spec: DatasetSpec,
    out_dir: str | Path,
    split: str = "test",
    show_progress: bool = True,
    max_structures: int | None = None,
) -> Path:
    """Simulate only one split of a spec (synchronously, in this process), as a dataset store.

    The images of the split are simulated into ``out_dir/work`` (one part file each, so an
    interrupted run resumes), then renumbered ``0 .. n-1`` and gathered into
    ``out_dir/dataset.h5``. Each image keeps its index in the full dataset as the parameter
    ``source_index``; ``out_dir/subset.json`` says which split this is.

    Parameters
    ----------
    spec : DatasetSpec
        The full spec (its plan decides which structures are in ``split``).
    out_dir : str or Path
        Folder of the new dataset.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    show_progress : bool
        Progress bar over structures.
    max_structures : int, optional
        Simulate only this many structures of the split, spread evenly over it (all images of
        each); recorded in ``subset.json``.

    Returns
    -------
    Path
        The store written (or found).
    """
    from sbdenoise.simulate.plan import plan_dataset
    from sbdenoise.simulate.runner import SPEC_NAME, simulate_structure
    from sbdenoise.simulate.store import (
        ImageRecord,
        consolidate,
        finished_indices,
        part_path,
        read_part,
        write_part,
    )

    out_dir = Path(out_dir)
    store = out_dir / STORE_NAME
    if store.exists():
        return store
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_path = out_dir / SPEC_NAME
    if spec_path.exists() and DatasetSpec.from_yaml(spec_path) != spec:
        raise ValueError(f"{out_dir} holds a different spec: choose another folder or remove it")
    spec.to_yaml(spec_path)
    tasks = [task for task in plan_dataset(spec) if task.split == split]
    if not tasks:
        raise ValueError(f"the spec {spec.name!r} has no {split!r} structures")
    tasks = [tasks[int(i)] for i in spread(np.arange(len(tasks)), max_structures)]
    work = out_dir / "work"
    skip = frozenset(finished_indices(work))
    spec_json = spec.model_dump_json()
    for task in progress_bar(tasks, f"simulate {spec.name}", show=show_progress):
        simulate_structure(task, spec_json, str(work), skip)
    sources = sorted(image.index for task in tasks for image in task.images)
    for new, source in enumerate(sources):
        record = read_part(part_path(work, source))
        params = {**record.params, "source_index": source}
        write_part(out_dir, ImageRecord(new, record.image, params, record.columns))
    consolidate(out_dir, len(sources), json.loads(spec_json))
    subset = {
        "split": split,
        "n_structures": len(tasks),
        "structure_ids": [task.structure.structure_id for task in tasks],
        "n_images": len(sources),
        "source_indices": sources,
    }
    (out_dir / "subset.json").write_text(json.dumps(subset, indent=2) + "\n")
    shutil.rmtree(work)
    return store


# --------------------------------------------------------------------------- helpers


def log(message: str, start: float) -> None:
    """One line on stderr with the time since ``start``."""
    console.log(f"[{time.perf_counter() - start:7.1f} s] {message}")


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine(device: str) -> dict[str, Any]:
    """Platform, CPUs, library versions and torch threads the timings belong to."""
    versions: dict[str, str | None] = {}
    for package in ("numpy", "scipy", "scikit-image", "bm3d", "torch", "sbdenoise"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "gpu": gpu,
        "versions": versions,
    }


def plain(value: Any) -> Any:
    """A JSON-friendly copy (numpy scalars and arrays to Python)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def noise_rng(*key: int) -> np.random.Generator:
    """The generator of one noise draw, fixed by its position (and the module seed)."""
    return np.random.default_rng([SEED, *(int(k) for k in key)])


def select(data: SimulatedDataset, split: str, contrast: str) -> np.ndarray:
    """Indices of a split, with one contrast class or all (``contrast="all"``)."""
    if contrast == "all":
        return data.indices(split=split)
    return data.indices(split=split, contrast=contrast)


def write_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    atomic_write_text(path, text)


def write_results(output: Path, stem: str, result: dict[str, Any], text: str) -> None:
    """Write ``<stem>.json`` (the result) and ``<stem>.md`` (its table) into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    write_atomic(output / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    write_atomic(output / f"{stem}.md", text)


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and standard deviation (None for no values)."""
    if not len(values):
        return None, None
    return float(np.mean(values)), float(np.std(values))


# --------------------------------------------------------------------------- methods


@dataclass
class Method:
    """One row of Table 1 and how to run it."""

    key: str
    label: str
    kind: str
    run: Denoiser | None = None
    info: dict[str, Any] | None = None

    @property
    def available(self) -> bool:
        """True if the method can run (False: a network that was not given)."""
        return self.kind == "raw" or self.run is not None


def registry_denoiser(name: str, params: dict[str, Any]) -> Denoiser:
    """A method of the registry with fixed parameters, as a :data:`Denoiser`."""
    prepared = prepare(name, params)

    def run(counts: np.ndarray, pixel_size: float) -> np.ndarray:
        return prepared.denoise_frame(counts, pixel_size)

    return run


def load_network(path: Path, device: str, shipped: Path | None) -> tuple[Denoiser, dict[str, Any]]:
    """A model file through the registry's ``sbd`` method: its denoiser and what the table says."""
    from sbdenoise.nn import parameter_count

    prepared = prepare(SBD_METHOD, {"device": device}, model=path)
    card = prepared.card

    def run(counts: np.ndarray, pixel_size: float) -> np.ndarray:
        return prepared.denoise_frame(counts, pixel_size)

    training = card.training_data
    info = {
        "model": str(path),
        "shipped": shipped is not None and Path(path).resolve() == shipped.resolve(),
        "architecture": card.architecture,
        "architecture_kwargs": card.architecture_kwargs,
        "parameters": parameter_count(prepared.network),
        "sampling_A": card.sampling,
        "dose_working": card.dose,
        "normalization": card.normalization,
        "dose_range_e_per_A2": card.dose_range_per_area,
        "receptive_field_px": card.receptive_field_px,
        "receptive_field_nm": card.receptive_field_angstrom / 10.0,
        "trained_on": training.get("dataset_name"),
        "n_train_images": training.get("n_train_images"),
        "card_metrics": card.metrics,
    }
    return run, info


def build_methods(args: argparse.Namespace, params: dict[str, dict[str, Any]]) -> list[Method]:
    """The rows of Table 1 with their denoisers (networks loaded from the given files)."""
    from sbdenoise.pretrained import shipped_model_path

    shipped = shipped_model_path()
    files = {"sbd-dncnn": args.dncnn, "sbd-small-unet": args.small_unet, "sbd-unet": args.unet}
    if files["sbd-unet"] is None:
        files["sbd-unet"] = shipped
    methods = []
    for key, label, kind in ROWS:
        method = Method(key, label, kind)
        if kind == "baseline":
            method.run = registry_denoiser(key, params[key])
            method.info = {"params": plain(params[key])}
        elif kind == "sbd" and files[key] is not None:
            method.run, method.info = load_network(Path(files[key]), args.device, shipped)
            if key == "sbd-unet" and not method.info["shipped"]:
                method.label = f"SBD + UNet ({Path(files[key]).name})"
        methods.append(method)
    return methods


# --------------------------------------------------------------------------- tuning


def tune(
    data: SimulatedDataset, indices: np.ndarray, names: Sequence[str], show: bool
) -> dict[str, dict[str, Any]]:
    """Tune each baseline on validation pairs over its registry grid (mean PSNR).

    :func:`tune_baseline` runs once per validation image (each with its own pixel size) and the
    tables are averaged, which is the mean PSNR over all pairs.
    """
    pairs = []
    for index in indices:
        clean = data.image(index).astype(np.float64)
        noisy = sample_poisson(clean, noise_rng(1, index))
        pairs.append((clean, noisy, float(data.params["pixel_size"][index])))
    tables: dict[str, list[list[tuple[dict[str, Any], float]]]] = {name: [] for name in names}
    jobs = [(name, pair) for name in names for pair in pairs]
    for name, (clean, noisy, pixel_size) in progress_bar(jobs, "tuning baselines", show=show):
        result = tune_baseline(name, [(clean, noisy)], pixel_size=pixel_size, progress=False)
        tables[name].append(result.table)
    tuned = {}
    for name in names:
        scores = np.mean([[score for _, score in table] for table in tables[name]], axis=0)
        best = int(np.argmax(scores))
        tuned[name] = {
            "params": plain(tables[name][0][best][0]),
            "validation_psnr": float(scores[best]),
            "grid": {k: plain(v) for k, v in BASELINES[name].grid.items()},
        }
    return tuned


# --------------------------------------------------------------------------- evaluation


def evaluate(
    data: SimulatedDataset,
    indices: np.ndarray,
    methods: Sequence[Method],
    realisations: int,
    show: bool,
) -> dict[str, dict[str, list[float]]]:
    """PSNR and SSIM of every available method on every test image and noise realisation."""
    scores = {m.key: {"psnr": [], "ssim": [], "image": []} for m in methods if m.available}
    for index in progress_bar(list(indices), "test images", show=show):
        clean = data.image(index).astype(np.float64)
        pixel_size = float(data.params["pixel_size"][index])
        for r in range(realisations):
            noisy = sample_poisson(clean, noise_rng(0, index, r))
            for method in methods:
                if not method.available:
                    continue
                if method.kind == "raw":
                    estimate, clip = noisy, False
                else:
                    estimate, clip = method.run(noisy, pixel_size), True
                scores[method.key]["psnr"].append(psnr(estimate, clean, clip=clip))
                scores[method.key]["ssim"].append(ssim(estimate, clean, clip=clip))
                scores[method.key]["image"].append(int(index))
    return scores


def timing_frame(data: SimulatedDataset, index: int) -> tuple[np.ndarray, float]:
    """A 1024 x 1024 counts frame: a test image mirrored (tiled) to size, one Poisson draw."""
    clean = data.image(index).astype(np.float64)
    pad = [(0, max(0, TIMING_SIZE - n)) for n in clean.shape]
    clean = np.pad(clean, pad, mode="symmetric")[:TIMING_SIZE, :TIMING_SIZE]
    return sample_poisson(clean, noise_rng(4, index)), float(data.params["pixel_size"][index])


def time_methods(
    methods: Sequence[Method], counts: np.ndarray, pixel_size: float, runs: int, show: bool
) -> dict[str, list[float]]:
    """Seconds per call of every available denoiser on ``counts`` (after one warm-up call)."""
    seconds: dict[str, list[float]] = {}
    timed = [m for m in methods if m.available and m.kind != "raw"]
    for method in progress_bar(timed, "timing 1024 x 1024", show=show):
        method.run(counts, pixel_size)  # warm-up: imports, caches, torch kernels
        seconds[method.key] = []
        for _ in range(runs):
            start = time.perf_counter()
            method.run(counts, pixel_size)
            seconds[method.key].append(time.perf_counter() - start)
    return seconds


# --------------------------------------------------------------------------- robustness


@dataclass
class Condition:
    """One row of the robustness table: images of a dataset, optionally at another dose."""

    name: str
    group: str
    data: SimulatedDataset
    indices: np.ndarray
    dose: float | None = None


def robustness_datasets(folder: Path) -> list[tuple[str, SimulatedDataset]]:
    """The datasets of a robustness folder: the folder itself, or its sub-folders with a store."""
    if (folder / STORE_NAME).is_file():
        data = SimulatedDataset(folder)
        return [(str(data.spec.get("name", folder.name)), data)]
    order = {name: i for i, (name, _) in enumerate(robustness_spec(DatasetSpec()))}
    found = [p for p in sorted(folder.iterdir()) if (p / STORE_NAME).is_file()]
    if not found:
        raise FileNotFoundError(f"no dataset store in {folder} or its sub-folders")
    found.sort(key=lambda p: (order.get(p.name, len(order)), p.name))
    return [(p.name, SimulatedDataset(p)) for p in found]


def run_robustness(
    conditions: Sequence[Condition],
    unet: Method,
    bm3d: Method,
    realisations: int,
    show: bool,
) -> list[dict[str, Any]]:
    """Raw, VST+BM3D and UNet scores under each condition."""
    rows = []
    items = [(k, c, i) for k, c in enumerate(conditions) for i in c.indices]
    results: dict[int, dict[str, list[float]]] = {
        k: {"raw": [], "bm3d": [], "unet": [], "unet_ssim": [], "unet_norm": []}
        for k in range(len(conditions))
    }
    for k, condition, index in progress_bar(items, "robustness", show=show):
        clean = condition.data.image(index).astype(np.float64)
        pixel_size = float(condition.data.params["pixel_size"][index])
        base_dose = float(condition.data.params["dose"][index])
        scale = 1.0 if condition.dose is None else condition.dose / base_dose
        clean = clean * scale
        out = results[k]
        for r in range(realisations):
            noisy = sample_poisson(clean, noise_rng(2, k, index, r))
            estimate = unet.run(noisy, pixel_size)
            out["raw"].append(psnr(noisy, clean, clip=False))
            out["bm3d"].append(psnr(bm3d.run(noisy, pixel_size), clean))
            out["unet"].append(psnr(estimate, clean))
            out["unet_ssim"].append(ssim(estimate, clean))
            out["unet_norm"].append(psnr(estimate / scale, clean / scale))
    for k, condition in enumerate(conditions):
        out = results[k]
        params = condition.data.params
        chosen = condition.indices
        unet_mean, unet_std = mean_std(out["unet"])
        rows.append(
            {
                "condition": condition.name,
                "group": condition.group,
                "dataset": str(condition.data.path.parent),
                "n_images": len(chosen),
                "realisations": realisations,
                "dose": condition.dose
                if condition.dose is not None
                else float(np.mean(params["dose"][chosen])),
                "focal_spread_nm": _param_mean(params, "focal_spread_nm", chosen),
                "vibration_pm": _param_mean(params, "vibration_pm", chosen),
                "pixel_size_A": _param_mean(params, "pixel_size", chosen),
                "raw_psnr": mean_std(out["raw"])[0],
                "vst_bm3d_psnr": mean_std(out["bm3d"])[0],
                "unet_psnr": unet_mean,
                "unet_psnr_std": unet_std,
                "unet_ssim": mean_std(out["unet_ssim"])[0],
                "unet_psnr_dose_normalised": mean_std(out["unet_norm"])[0]
                if condition.group == "dose"
                else None,
            }
        )
    for group, reference in (("dose", "dose 0.45 e-/px"), ("dataset", "nominal")):
        ref = next((r for r in rows if r["group"] == group and r["condition"] == reference), None)
        for row in rows:
            if row["group"] == group:
                row["delta_vs_reference_db"] = (
                    None if ref is None else row["unet_psnr"] - ref["unet_psnr"]
                )
    return rows


def _param_mean(params: dict[str, np.ndarray], name: str, chosen: np.ndarray) -> float | None:
    return float(np.mean(params[name][chosen])) if name in params else None


# --------------------------------------------------------------------------- report


def fmt(value: float | None, spec: str = ".2f") -> str:
    """A number for the Markdown table ("-" for none)."""
    return "-" if value is None else format(value, spec)


def markdown(result: dict[str, Any]) -> str:
    """The results as a Markdown page: Table 1, the targets, the robustness table, the machine."""
    d, s, m = result["dataset"], result["settings"], result["machine"]
    contrast = "all contrast classes" if d["contrast"] == "all" else f"{d['contrast']} contrast"
    tuning = (
        f"tuned on {s['tune_images']} validation image(s) (one noise draw each) over each "
        "registry grid, by mean PSNR"
        if s["tuned"]
        else "registry defaults (--no-tune)"
    )
    lines = [
        "# Table 1: SBD against the classical baselines on the held-out test split",
        "",
        f"Dataset: `{d['name']}` ({d['path']}); test split: {d['n_test_images']} images "
        f"({contrast}) of {d['n_test_structures']} structure(s) never used for training; "
        f"{d['n_used']} image(s) used here x {s['realisations']} Poisson realisation(s) "
        f"(fixed seeds); {d['image_shape'][0]} x {d['image_shape'][1]} px, "
        f"{d['pixel_size_A'][0]:.4g}-{d['pixel_size_A'][1]:.4g} A/px, "
        f"{d['dose'][0]:.3g}-{d['dose'][1]:.3g} e-/px in vacuum. Baseline parameters: {tuning}.",
        "",
        "PSNR: peak 1 e-/px, estimate clipped to [0, 1] (raw frame: unclipped, as in the papers); "
        "SSIM: data range 1; mean ± std over images x realisations. Seconds: median of "
        f"{s['timing_runs']} run(s) after a warm-up on one {TIMING_SIZE} x {TIMING_SIZE} counts "
        f"frame (a test image mirrored to size), {m['torch_threads']} torch thread(s) on "
        f"{m['device']}; x VST+BM3D: time ratio to VST+BM3D measured in this run.",
        "",
        "| method | PSNR (dB) | SSIM | s / 1024² frame | x VST+BM3D | parameters / model |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        if row["status"] != "ok":
            lines.append(f"| {row['label']} | {row['status']} | - | - | - | - |")
            continue
        info = row.get("info") or {}
        if "params" in info:
            detail = ", ".join(f"{k}={v}" for k, v in info["params"].items()) or "-"
        elif "model" in info:
            kwargs = ", ".join(f"{k}={v}" for k, v in info["architecture_kwargs"].items())
            detail = (
                f"`{Path(info['model']).name}` ({info['architecture']} {kwargs}; "
                f"{info['sampling_A']:.3g} A/px, RF {info['receptive_field_nm']:.2f} nm; "
                f"trained on {info['trained_on']})"
            )
        else:
            detail = "-"
        lines.append(
            f"| {row['label']} | {fmt(row['psnr'])} ± {fmt(row['psnr_std'])} | "
            f"{fmt(row['ssim'], '.3f')} ± {fmt(row['ssim_std'], '.3f')} | "
            f"{fmt(row['seconds_1024'], '.3g')} | {fmt(row['ratio_vst_bm3d'], '.3g')} | {detail} |"
        )
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target in result["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[target["met"]]
        lines.append(f"| {target['target']} | {target['measured']} | {met} |")
    for note in result["notes"]:
        lines += ["", note]
    robustness = result.get("robustness")
    if robustness:
        lines += [
            "",
            "## Robustness of the UNet to what the training did not control",
            "",
            robustness["convention"],
            "",
            "| condition | images x realisations | dose (e-/px) | focal spread (nm) | "
            "vibration (pm) | pixel (A) | raw PSNR | VST+BM3D PSNR | UNet PSNR (dB) | UNet SSIM | "
            "Δ UNet vs reference (dB) | UNet PSNR, dose-normalised |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in robustness["rows"]:
            lines.append(
                f"| {row['condition']} | {row['n_images']} x {row['realisations']} | "
                f"{fmt(row['dose'], '.3g')} | {fmt(row['focal_spread_nm'], '.3g')} | "
                f"{fmt(row['vibration_pm'], '.3g')} | {fmt(row['pixel_size_A'], '.4f')} | "
                f"{fmt(row['raw_psnr'])} | {fmt(row['vst_bm3d_psnr'])} | "
                f"{fmt(row['unet_psnr'])} ± {fmt(row['unet_psnr_std'])} | "
                f"{fmt(row['unet_ssim'], '.3f')} | {fmt(row.get('delta_vs_reference_db'), '+.2f')} "
                f"| {fmt(row['unet_psnr_dose_normalised'])} |"
            )
    elif robustness is not None:
        lines += ["", "## Robustness", "", robustness.get("skipped", "not run")]
    lines += ["", machine_line(m), f"Total run time: {result['total_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def machine_line(m: dict[str, Any]) -> str:
    """The machine in one line."""
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    return (
        f"Machine: {m['platform']}, {m['processor']}, {m['cpu_count']} CPUs "
        f"({m['usable_cpus']} usable), torch threads {m['torch_threads']}, device "
        f"{m['device']}{gpu}, Python {m['python']}; {versions}."
    )


def targets(rows: list[dict[str, Any]], m: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets and whether this run meets them."""
    by_key = {row["method"]: row for row in rows}
    unet, bm3d = by_key["sbd-unet"], by_key["vst-bm3d"]
    ok = unet["status"] == "ok"
    shipped = ok and unet["info"]["shipped"]
    which = "shipped UNet" if shipped or not ok else f"UNet `{Path(unet['info']['model']).name}`"
    margin = unet["psnr"] - bm3d["psnr"] if ok and bm3d["status"] == "ok" else None
    seconds = unet.get("seconds_1024") if ok else None
    cores = f"{m['usable_cpus']} CPUs, {m['torch_threads']} threads, {m['device']}"
    return [
        {
            "target": f"{which}: PSNR >= {TARGET_PSNR_DB:g} dB",
            "measured": f"{unet['psnr']:.2f} dB" if ok else "not trained",
            "value": unet["psnr"] if ok else None,
            "met": None if not ok else bool(unet["psnr"] >= TARGET_PSNR_DB),
        },
        {
            "target": f"{which}: PSNR >= VST+BM3D + {TARGET_MARGIN_DB:g} dB",
            "measured": "not trained" if margin is None else f"{margin:+.2f} dB",
            "value": margin,
            "met": None if margin is None else bool(margin >= TARGET_MARGIN_DB),
        },
        {
            "target": f"{which}: <= {TARGET_SECONDS:g} s per 1024 x 1024 frame on "
            f"{TARGET_CORES} cores",
            "measured": "not trained" if seconds is None else f"{seconds:.3g} s ({cores})",
            "value": seconds,
            "met": None if seconds is None else bool(seconds <= TARGET_SECONDS),
        },
    ]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--dataset",
        type=Path,
        default=Path("data/shipped"),
        help="dataset folder (default: data/shipped)",
    )
    parser.add_argument(
        "--unet", type=Path, default=None, help="UNet model file (default: the shipped model)"
    )
    parser.add_argument("--dncnn", type=Path, default=None, help="DnCNN model file")
    parser.add_argument("--small-unet", type=Path, default=None, help="small UNet model file")
    parser.add_argument(
        "--contrast",
        default="white",
        choices=["white", "black", "intermediate", "all"],
        help="contrast class of the test and validation images (default: white)",
    )
    parser.add_argument("--max-images", type=int, default=None, help="test images (default: all)")
    parser.add_argument(
        "--realisations", type=int, default=None, help="noise draws per image (default: 3)"
    )
    parser.add_argument(
        "--tune-images", type=int, default=None, help="validation images for tuning (default: 4)"
    )
    parser.add_argument("--no-tune", action="store_true", help="baselines with registry defaults")
    parser.add_argument(
        "--timing-runs", type=int, default=None, help="timed runs per method (default: 3)"
    )
    parser.add_argument(
        "--dose-sweep",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"robustness rows at doses {', '.join(map(str, SWEEP_DOSES))} e-/px (default: on)",
    )
    parser.add_argument(
        "--robustness-dataset",
        type=Path,
        default=None,
        help="dataset (or folder of datasets) of the test structures with changed nuisances",
    )
    parser.add_argument(
        "--simulate-robustness",
        type=Path,
        default=None,
        metavar="DIR",
        help="simulate the robustness datasets (test split only, synchronously) into DIR first",
    )
    parser.add_argument(
        "--robustness-structures",
        type=int,
        default=None,
        metavar="N",
        help="with --simulate-robustness: only N test structures per dataset (default: all)",
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device of the networks (default: cpu)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 4 images, 1 realisation, 1 tuning image"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="results folder (default: benchmarks/results)"
    )
    args = parser.parse_args(argv)
    if args.max_images is None and args.quick:
        args.max_images = 4
    args.realisations = args.realisations or (1 if args.quick else 3)
    args.tune_images = args.tune_images or (1 if args.quick else 4)
    args.timing_runs = args.timing_runs or (1 if args.quick else 3)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write ``table1.json`` and ``table1.md``; returns the results."""
    args = parse_args(argv)
    show = not args.no_progress
    start = time.perf_counter()
    torch.set_num_threads(usable_cpus())
    torch.manual_seed(SEED)

    data = SimulatedDataset(args.dataset)
    test_all = select(data, "test", args.contrast)
    if not len(test_all):
        raise SystemExit(
            f"{args.dataset} has no {args.contrast!r} test images; try --contrast all "
            f"(classes present: {sorted(set(data.params['contrast']))})"
        )
    test = spread(test_all, args.max_images)
    val = spread(select(data, "val", args.contrast), args.tune_images)
    log(f"dataset {data.spec.get('name')}: {len(test)} of {len(test_all)} test images", start)

    names = [key for key, _, kind in ROWS if kind == "baseline"]
    if args.no_tune or not len(val):
        tuning = {n: {"params": plain(dict(BASELINES[n].defaults))} for n in names}
    else:
        tuning = tune(data, val, names, show)
        log("tuned: " + "; ".join(f"{n} {t['params']}" for n, t in tuning.items()), start)
    methods = build_methods(args, {n: tuning[n]["params"] for n in names})

    scores = evaluate(data, test, methods, args.realisations, show)
    summary = ", ".join(f"{k} {np.mean(v['psnr']):.2f} dB" for k, v in scores.items())
    log(f"evaluated: {summary}", start)
    counts, timing_pixel = timing_frame(data, int(test[0]))
    seconds = time_methods(methods, counts, timing_pixel, args.timing_runs, show)
    log("timed " + ", ".join(f"{k} {np.median(v):.3g} s" for k, v in seconds.items()), start)

    reference = float(np.median(seconds[REFERENCE])) if REFERENCE in seconds else None
    rows = []
    for method in methods:
        row: dict[str, Any] = {"method": method.key, "label": method.label, "kind": method.kind}
        if not method.available:
            rows.append({**row, "status": "not trained", "psnr": None, "ssim": None})
            continue
        found = scores[method.key]
        psnr_mean, psnr_std = mean_std(found["psnr"])
        ssim_mean, ssim_std = mean_std(found["ssim"])
        time_s = float(np.median(seconds[method.key])) if method.key in seconds else None
        row.update(
            status="ok",
            psnr=psnr_mean,
            psnr_std=psnr_std,
            ssim=ssim_mean,
            ssim_std=ssim_std,
            n_scores=len(found["psnr"]),
            seconds_1024=time_s,
            seconds_runs=seconds.get(method.key),
            ratio_vst_bm3d=None if time_s is None or not reference else time_s / reference,
            info=method.info,
            psnr_per_image=[
                float(np.mean(np.asarray(found["psnr"])[np.asarray(found["image"]) == index]))
                for index in test
            ],
        )
        rows.append(row)

    m = machine(args.device)
    notes = []
    unet = next(x for x in methods if x.key == "sbd-unet")
    name = data.spec.get("name")
    networks = [x for x in methods if x.kind == "sbd" and x.info]
    unknown = [x.label for x in networks if not x.info.get("trained_on")]
    other = sorted(
        {str(x.info["trained_on"]) for x in networks if x.info.get("trained_on")} - {name}
    )
    if unknown:
        notes.append(
            f"Note: the card of {', '.join(unknown)} does not name its training data, so this "
            "run cannot confirm that the test structures were held out from its training."
        )
    if other:
        notes.append(
            f"Note: model(s) trained on {', '.join(other)}, not on `{name}`: the test split is "
            "held out from this dataset's own training split only."
        )
    if m["usable_cpus"] != TARGET_CORES or args.device != "cpu":
        notes.append(
            f"Note: the speed target is for {TARGET_CORES} CPU cores; this run used "
            f"{m['usable_cpus']} CPUs ({m['torch_threads']} torch threads) on {args.device}."
        )

    robustness = None
    if args.dose_sweep or args.robustness_dataset or args.simulate_robustness:
        robustness = robustness_table(args, data, test, methods, unet, show, start)

    pixel_sizes = data.params["pixel_size"][test_all]
    doses = data.params["dose"][test_all]
    result = {
        "benchmark": "table1",
        "dataset": {
            "name": name,
            "path": str(data.path.parent),
            "split": "test",
            "contrast": args.contrast,
            "n_test_images": len(test_all),
            "n_test_structures": len(np.unique(data.params["structure_id"][test_all])),
            "n_used": len(test),
            "indices_used": plain(test),
            "validation_indices": plain(val) if not args.no_tune else [],
            "image_shape": list(data.shape[1:]),
            "pixel_size_A": [float(pixel_sizes.min()), float(pixel_sizes.max())],
            "dose": [float(doses.min()), float(doses.max())],
        },
        "settings": {
            "realisations": args.realisations,
            "tuned": not args.no_tune and bool(len(val)),
            "tune_images": len(val) if not args.no_tune else 0,
            "timing_runs": args.timing_runs,
            "timing_frame": [TIMING_SIZE, TIMING_SIZE],
            "timing_pixel_size_A": timing_pixel,
            "device": args.device,
            "seed": SEED,
            "quick": args.quick,
            "psnr": "peak 1 e-/px, estimate clipped to [0, 1]; raw row unclipped",
            "ssim": "data range 1; raw row unclipped",
        },
        "machine": m,
        "rows": rows,
        "targets": targets(rows, m),
        "notes": notes,
        "tuning": tuning,
        "robustness": robustness,
    }
    result["total_seconds"] = time.perf_counter() - start
    result = plain(result)
    args.output.mkdir(parents=True, exist_ok=True)
    stem = "table1_quick" if args.quick else "table1"
    write_atomic(args.output / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    write_atomic(args.output / f"{stem}.md", markdown(result))
    print(markdown(result))
    log(f"wrote {args.output / stem}.json and .md", start)
    return result


def robustness_table(
    args: argparse.Namespace,
    data: SimulatedDataset,
    test: np.ndarray,
    methods: Sequence[Method],
    unet: Method,
    show: bool,
    start: float,
) -> dict[str, Any]:
    """The second table: the UNet under changed dose and changed nuisance datasets."""
    convention = (
        "Dose rows: the clean test images rescaled by dose / dataset dose, fresh Poisson noise; "
        "PSNR peak 1 e-/px against the rescaled truth (dose-normalised: estimate and truth "
        "multiplied by dataset dose / dose first, i.e. relative error on the training scale). "
        "Other rows: test split of datasets of the same test structures simulated with one "
        "nuisance changed (`robustness_spec`), same contrast filter and image count; Δ is against "
        "the 0.45 e-/px row and the `nominal` dataset respectively. VST+BM3D uses the Table 1 "
        "parameters."
    )
    if not unet.available:
        return {"skipped": "no UNet model: robustness table not run", "rows": []}
    bm3d = next(x for x in methods if x.key == REFERENCE)
    conditions = []
    if args.dose_sweep:
        conditions += [
            Condition(f"dose {dose:g} e-/px", "dose", data, test, dose) for dose in SWEEP_DOSES
        ]
    folder = args.robustness_dataset
    if args.simulate_robustness is not None:
        base = DatasetSpec.model_validate(data.spec)
        for variant, spec in robustness_spec(base):
            log(f"simulating robustness dataset {variant} (test split)", start)
            simulate_split(
                spec, args.simulate_robustness / variant, "test", show, args.robustness_structures
            )
        folder = folder or args.simulate_robustness
    if folder is not None:
        for variant, other in robustness_datasets(folder):
            chosen = spread(select(other, "test", args.contrast), args.max_images)
            if len(chosen):
                conditions.append(Condition(variant, "dataset", other, chosen))
            else:
                log(f"robustness dataset {variant}: no {args.contrast!r} test images", start)
    rows = run_robustness(conditions, unet, bm3d, args.realisations, show)
    summary = ", ".join(f"{r['condition']} {r['unet_psnr']:.2f} dB" for r in rows)
    log(f"robustness: {summary}", start)
    return {"convention": convention, "rows": rows}


if __name__ == "__main__":
    main(sys.argv[1:])
