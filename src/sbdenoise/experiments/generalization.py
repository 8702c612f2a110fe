"""The papers' generalisation study on our data: train on one subset, test on every other.

Vincent et al. (2021) trained one network per subset of their simulations (contrast class,
particle structure, defect type; equal subset sizes) and tested each on every other subset of
the same family: white- and intermediate-contrast networks generalised to black contrast, a
black-contrast network did not; structure and defect subsets generalised to each other. This
module repeats the study on a simulated dataset of ours:

1. :func:`plan_subsets` groups the dataset by a parameter per family (``contrast``: the contrast
   class; ``structure``: the particle diameter; ``defect``: the defect type). A subset needs
   training, validation and test images; each subset of a family trains on the same number of
   images (a seeded random subset of its training split) and is tested on the same number.
2. One network per subset, all with the same architecture, options and training-time budget
   (:attr:`sbdenoise.training.spec.TrainSpec.budget_minutes`), so they are compared at equal CPU
   time; each is tested on every subset of its family (PSNR, surface-column Jaccard), beside
   VST+BM3D on the same frames as the floor.
3. Heat maps (rows: trained on, columns: tested on) and a table.

Every stage is resumable: trainings resume from their checkpoints, and each scored cell is stored
in ``cells.json`` as soon as it is measured, so a killed run continues with the same call.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.analysis.evaluation import evaluate
from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.training.spec import Filters, TrainSpec
from sbdenoise.training.trainer import model_weights_path, train

#: Family -> the dataset parameter that defines its subsets.
FAMILIES: dict[str, str] = {
    "contrast": "contrast",
    "structure": "particle_diameter_nm",
    "defect": "defect",
}
DEFAULT_FAMILIES = tuple(FAMILIES)
#: The floor method scored on every tested subset.
FLOOR_METHOD = "vst-bm3d"
#: Steps given to a budgeted training (it stops on its time budget long before).
_UNBOUNDED_STEPS = 10**8
PLAN_NAME, CELLS_NAME = "plan.json", "cells.json"


@dataclass(frozen=True)
class Subset:
    """Images of one value of a family's parameter.

    Attributes
    ----------
    family : str
        ``contrast``, ``structure`` or ``defect``.
    value : str
        The parameter's value (text: ``white``, ``2.0``, ``adatom``).
    n_train : int
        Training images the network of this subset uses (equal within a family).
    available_train : int
        Training images of this value in the dataset.
    test : tuple of int
        Dataset indices of the test images (equal count within a family).
    """

    family: str
    value: str
    n_train: int
    available_train: int
    test: tuple[int, ...]

    @property
    def name(self) -> str:
        """File-system safe name, e.g. ``defect-remove_one`` or ``structure-2.0``."""
        return f"{self.family}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', self.value)}"

    def filters(self) -> Filters:
        """The training filters that select this subset (and its validation images)."""
        if self.family == "contrast":
            return Filters(contrast=[self.value], max_train_images=self.n_train)
        if self.family == "defect":
            return Filters(defect=[self.value], max_train_images=self.n_train)
        diameter = float(self.value)
        return Filters(particle_diameter_nm=(diameter, diameter), max_train_images=self.n_train)


def _values(data: SimulatedDataset, key: str, indices: np.ndarray) -> np.ndarray:
    return np.array([_text(v) for v in np.asarray(data.params[key])[indices]], dtype=object)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (float, np.floating)):
        return str(float(value))  # "2.0", "1.5": float() reads it back exactly
    return str(value)


def plan_subsets(
    data: SimulatedDataset,
    families: Sequence[str] = DEFAULT_FAMILIES,
    *,
    max_train_images: int | None = None,
    test_images: int = 4,
    seed: int = 0,
) -> tuple[list[Subset], list[str]]:
    """Subsets of equal size per family, and why anything was left out.

    Parameters
    ----------
    data : SimulatedDataset
        The dataset (its ``train``/``val``/``test`` splits are used as they are).
    families : sequence of str
        Families to study, from :data:`FAMILIES`.
    max_train_images : int, optional
        At most this many training images per subset (default: the smallest subset's count).
    test_images : int
        At most this many test images per subset.
    seed : int
        Seed of the choice of test images.

    Returns
    -------
    tuple
        ``(subsets, notes)``: the subsets, family by family, and one line per value or family
        left out (no training, validation or test image; fewer than two subsets).

    Raises
    ------
    InputError
        For an unknown family, a dataset without the family's parameter, or no family left.
    """
    if test_images < 1:
        raise InputError(f"test_images must be at least 1, got {test_images}")
    rng = np.random.default_rng(seed)
    subsets: list[Subset] = []
    notes: list[str] = []
    splits = {name: data.indices(split=name) for name in ("train", "val", "test")}
    for family in families:
        if family not in FAMILIES:
            raise InputError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
        key = FAMILIES[family]
        if key not in data.params:
            raise InputError(f"the dataset has no parameter {key!r} (family {family})", data.path)
        by_split = {name: _values(data, key, idx) for name, idx in splits.items()}
        kept: list[tuple[str, int, np.ndarray]] = []
        for value in sorted(set(by_split["train"])):
            counts = {name: int(np.sum(by_split[name] == value)) for name in splits}
            if min(counts.values()) == 0:
                missing = ", ".join(name for name, n in counts.items() if n == 0)
                notes.append(f"{family} {value}: left out (no {missing} images)")
                continue
            test = splits["test"][by_split["test"] == value]
            kept.append((value, counts["train"], test))
        if len(kept) < 2:
            notes.append(f"{family}: left out (fewer than two subsets with train, val and test)")
            continue
        n_train = min(count for _, count, _ in kept)
        if max_train_images is not None:
            n_train = min(n_train, max_train_images)
        n_test = min(test_images, *(len(test) for _, _, test in kept))
        for value, available, test in kept:
            chosen = np.sort(rng.choice(test, size=n_test, replace=False))
            subsets.append(Subset(family, value, n_train, available, tuple(int(i) for i in chosen)))
    if not subsets:
        raise InputError("no family has two subsets to compare: " + "; ".join(notes), data.path)
    return subsets, notes


@dataclass
class GeneralizationResult:
    """What the study measured.

    Attributes
    ----------
    subsets : list of Subset
        The subsets, family by family.
    cells : dict
        ``cells[trained][tested]`` -> ``{"psnr": dB, "surface_jaccard": median}`` (subset
        names); ``cells["vst-bm3d"][tested]`` holds the floor.
    training : dict
        Per trained subset: steps, seconds, best validation PSNR (dB), stop reason.
    notes : list of str
        Values and families left out.
    paths : dict
        Files written: ``plan``, ``cells``, ``table``, and one ``heatmap_<family>`` each.
    """

    subsets: list[Subset]
    cells: dict[str, dict[str, dict[str, float]]]
    training: dict[str, dict[str, Any]]
    notes: list[str]
    paths: dict[str, Path] = field(default_factory=dict)

    def matrix(self, family: str, metric: str = "psnr") -> tuple[list[str], np.ndarray]:
        """``(names, values)``: rows trained on, columns tested on, for one family."""
        names = [s.name for s in self.subsets if s.family == family]
        values = np.array(
            [[self.cells.get(r, {}).get(c, {}).get(metric, math.nan) for c in names] for r in names]
        )
        return names, values


def _plan_record(subsets: list[Subset], spec: TrainSpec, realisations: int) -> dict[str, Any]:
    return {
        "subsets": [
            {
                "family": s.family,
                "value": s.value,
                "n_train": s.n_train,
                "available_train": s.available_train,
                "test": list(s.test),
            }
            for s in subsets
        ],
        "spec": spec.model_dump(mode="json"),
        "realisations": realisations,
    }


def _check_plan(path: Path, record: dict[str, Any]) -> None:
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != record:
            raise InputError(
                "this folder holds a study with another plan (subsets, training spec or "
                "realisations); to resume, give the same options; otherwise choose another -o",
                path.parent,
            )
    else:
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def _score(
    data: SimulatedDataset, subset: Subset, method: str, model: Path | None, realisations: int
) -> dict[str, float]:
    result = evaluate(
        data, method, model=model, indices=list(subset.test), n_realisations=realisations
    )
    jaccard = result.metric("surface_jaccard")
    finite = jaccard[np.isfinite(jaccard)]
    return {
        "psnr": float(np.mean(result.metric("psnr"))),
        "surface_jaccard": float(np.median(finite)) if finite.size else math.nan,
    }


def run_generalization(
    dataset: str | Path,
    output_dir: str | Path,
    *,
    families: Sequence[str] = DEFAULT_FAMILIES,
    spec: TrainSpec | None = None,
    budget_minutes: float = 10.0,
    max_train_images: int | None = None,
    test_images: int = 4,
    realisations: int = 1,
    seed: int = 0,
    threads: int | None = None,
    show_progress: bool = True,
) -> GeneralizationResult:
    """Train one network per subset for the same time budget and test it on every other.

    Parameters
    ----------
    dataset : str or Path
        Simulated dataset folder.
    output_dir : str or Path
        Folder of the study: networks, ``plan.json``, ``cells.json``, table and heat maps.
    families : sequence of str
        Families from :data:`FAMILIES`.
    spec : TrainSpec, optional
        Training options shared by every network (its dataset, filters, steps and budget are
        replaced); default: the UNet defaults at a 128 px crop.
    budget_minutes : float
        Training time per network, minutes.
    max_train_images : int, optional
        Cap on the (equal) number of training images per subset.
    test_images : int
        Test images per subset.
    realisations : int
        Poisson draws per test image.
    seed : int
        Seed of the subsets' test choice, training and noise.
    threads : int, optional
        CPU threads of training.
    show_progress : bool
        Progress bars.

    Returns
    -------
    GeneralizationResult
    """
    if not budget_minutes > 0:
        raise InputError(f"budget_minutes must be positive, got {budget_minutes}")
    if realisations < 1:
        raise InputError(f"realisations must be at least 1, got {realisations}")
    data = SimulatedDataset(dataset)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    subsets, notes = plan_subsets(
        data, families, max_train_images=max_train_images, test_images=test_images, seed=seed
    )
    base = (spec or TrainSpec(dataset=str(data.path))).model_copy(
        update={
            "dataset": str(Path(dataset).resolve()),
            "steps": _UNBOUNDED_STEPS,
            "epochs": None,
            "budget_minutes": budget_minutes,
            "seed": seed,
        }
    )
    _check_plan(out / PLAN_NAME, _plan_record(subsets, base, realisations))
    cells_path = out / CELLS_NAME
    stored = json.loads(cells_path.read_text()) if cells_path.exists() else {}
    cells: dict[str, dict[str, dict[str, float]]] = stored.get("cells", {})
    training: dict[str, dict[str, Any]] = stored.get("training", {})

    def save() -> None:
        atomic_write_text(
            cells_path, json.dumps({"cells": cells, "training": training}, indent=2) + "\n"
        )

    for subset in progress_bar(subsets, "train subsets", show=show_progress):
        model = out / "networks" / f"{subset.name}.safetensors"
        if subset.name not in training:
            started = time.perf_counter()
            outcome = train(
                base.model_copy(update={"filters": subset.filters()}),
                model,
                show_progress=False,
                threads=threads,
            )
            training[subset.name] = {
                "steps": outcome.step,
                "seconds": time.perf_counter() - started,
                "best_val_psnr": outcome.best_psnr_db,
                "best_step": outcome.best_step,
                "stop_reason": outcome.stop_reason,
            }
            save()
    jobs = [
        (trained, tested)
        for trained in [*subsets, None]
        for tested in subsets
        if trained is None or trained.family == tested.family
    ]
    for trained, tested in progress_bar(jobs, "test subsets", show=show_progress):
        row = FLOOR_METHOD if trained is None else trained.name
        if tested.name in cells.get(row, {}):
            continue
        model = None if trained is None else model_weights_path(out / "networks" / trained.name)
        method = FLOOR_METHOD if trained is None else "sbd"
        cells.setdefault(row, {})[tested.name] = _score(data, tested, method, model, realisations)
        save()
    result = GeneralizationResult(subsets, cells, training, notes)
    result.paths = {"plan": out / PLAN_NAME, "cells": cells_path}
    for family in dict.fromkeys(s.family for s in subsets):
        result.paths[f"heatmap_{family}"] = plot_heatmaps(
            result, family, out / f"generalization_{family}.png"
        )
    result.paths["table"] = atomic_write_text(out / "generalization.md", markdown(result))
    return result


def plot_heatmaps(result: GeneralizationResult, family: str, path: str | Path) -> Path:
    """PSNR and surface Jaccard heat maps of one family, VST+BM3D as the last row."""
    plt = _pyplot()
    names, _ = result.matrix(family)
    labels = [name.split("-", 1)[1] for name in names]
    fig, axes = plt.subplots(1, 2, figsize=(5.0 + 1.6 * len(names), 1.6 + 0.55 * len(names)))
    for ax, metric, title, colours in (
        (axes[0], "psnr", "PSNR (dB)", "viridis"),
        (axes[1], "surface_jaccard", "surface Jaccard (median)", "magma"),
    ):
        _, values = result.matrix(family, metric)
        floor = [result.cells.get(FLOOR_METHOD, {}).get(n, {}).get(metric, math.nan) for n in names]
        table = np.vstack([values, floor])
        image = ax.imshow(table, cmap=colours, aspect="auto")
        for (row, col), value in np.ndenumerate(table):
            text = "-" if not np.isfinite(value) else f"{value:.2f}"
            ax.text(col, row, text, ha="center", va="center", color="white", fontsize=9,
                    bbox={"facecolor": "black", "alpha": 0.35, "lw": 0, "pad": 1})  # fmt: skip
        ax.axhline(len(names) - 0.5, color="white", lw=2)
        ax.set_xticks(range(len(names)), labels, rotation=30, ha="right")
        ax.set_yticks(range(len(names) + 1), [*labels, "VST+BM3D"])
        ax.set_xlabel(f"tested on ({family})")
        ax.set_ylabel(f"trained on ({family})")
        ax.set_title(title)
        fig.colorbar(image, ax=ax, shrink=0.8)
    budget = {round(t.get("seconds", 0) / 60, 1) for t in result.training.values()}
    fig.suptitle(f"Generalisation by {family}: one network per subset, ~{max(budget)} min each")
    fig.tight_layout()
    return save_figure(fig, path)


def markdown(result: GeneralizationResult) -> str:
    """The cells as tables, one per family and metric, with the training records."""
    lines = ["# Generalisation across subsets", ""]
    for family in dict.fromkeys(s.family for s in result.subsets):
        members = [s for s in result.subsets if s.family == family]
        names = [s.name for s in members]
        lines.append(
            f"## {family}: {members[0].n_train} training and {len(members[0].test)} test images "
            "per subset"
        )
        for metric, label in (("psnr", "PSNR (dB)"), ("surface_jaccard", "surface Jaccard")):
            lines += ["", f"{label}, rows trained on, columns tested on:", ""]
            lines.append("| trained on | " + " | ".join(n.split("-", 1)[1] for n in names) + " |")
            lines.append("|---|" + "---:|" * len(names))
            for row in [*names, FLOOR_METHOD]:
                values = [result.cells.get(row, {}).get(c, {}).get(metric, math.nan) for c in names]
                label_row = row.split("-", 1)[1] if row != FLOOR_METHOD else "VST+BM3D"
                lines.append(
                    f"| {label_row} | "
                    + " | ".join("-" if not math.isfinite(v) else f"{v:.2f}" for v in values)
                    + " |"
                )
        lines += ["", "| network | steps | minutes | best validation PSNR (dB) | stopped by |"]
        lines.append("|---|---:|---:|---:|---|")
        for name in names:
            t = result.training.get(name, {})
            lines.append(
                f"| {name} | {t.get('steps', '-')} | {t.get('seconds', math.nan) / 60:.1f} | "
                f"{t.get('best_val_psnr', math.nan):.2f} | {t.get('stop_reason', '-')} |"
            )
        lines.append("")
    if result.notes:
        lines += ["Left out:", ""] + [f"- {note}" for note in result.notes] + [""]
    return "\n".join(lines)
