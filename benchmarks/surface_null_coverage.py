"""Does a surface null hold on images it was not made from? Coverage of recalibrated p-values.

A surface null (:mod:`sbdenoise.analysis.surface_null`) turns a surface candidate's vacuum p-value
``p`` into ``(1 + k) / (1 + N)``, ``k`` of the table's ``N`` spurious surface candidates at or
below ``p``. On a new frame, a spurious surface candidate's recalibrated p-value should then fall
at or below ``alpha`` in at most a fraction ``alpha`` of cases: this script measures that
fraction on images the table did not see.

Every white image of a simulated dataset (the ``surface`` preset: 44 structures with surface
defects, three defoci each) is denoised and judged against vacuum at one dose, several Poisson
draws each (:func:`~sbdenoise.analysis.surface_calibration.collect_surface_candidates`); the
vacuum p-values of its spurious and real candidates facing the vacuum are kept per frame. Then,
by structure (all defoci of a structure on one side), ``--folds``-fold cross-validation: a table
is built from the other folds' images by each scheme, the held-out fold's candidates are
recalibrated against it, and over all folds

- *coverage*: the share of spurious candidates with a recalibrated p-value at or below ``alpha``,
  divided by ``alpha`` (at most 1 when the null holds; 2 means twice the false discoveries the
  level promises), with a 95 % interval from a bootstrap over structures that redoes the whole
  cross-validation (candidates of one image are not independent, and the tables vary too);
- *power*: the share of real candidates at or below ``alpha``.

Schemes: the shipped recipe (36 images evenly spread, one draw); every calibration image, one
draw or every draw; and the bound the shipped null uses now (``--bound``, see
:meth:`~sbdenoise.analysis.surface_null.SurfaceNull.p_values`) if it differs. When the model has a
table beside it, that table's coverage on the images it left out is reported too. Writes
``surface_null_coverage*.{json,md,png}``::

    .venv/bin/python benchmarks/surface_null_coverage.py --dataset /work/data/surface \\
        --model v9=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors --draws 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, machine, machine_line, select, write_results

from sbdenoise.analysis.surface_calibration import (
    SurfaceCandidateSample,
    collect_surface_candidates,
    spread_evenly,
)
from sbdenoise.analysis.surface_null import (
    SurfaceNull,
    SurfaceNullLevel,
    method_fingerprint,
    sidecar_of,
)
from sbdenoise.denoise.registry import prepare
from sbdenoise.simulate.store import SimulatedDataset

#: Levels at which coverage and power are reported.
ALPHAS = (0.005, 0.01, 0.02, 0.05, 0.1)
#: Bootstrap resamples for the intervals.
RESAMPLES = 400


def frame_values(
    sample: SurfaceCandidateSample, dose: float, draws: int
) -> dict[int, tuple[list[np.ndarray], list[np.ndarray]]]:
    """Image -> (spurious p-values per draw, real p-values per draw), draws ``0..draws-1``."""
    images = sorted({index for d, index, _ in sample.p_values if d == dose})
    return {
        index: (
            [sample.p_values[(dose, index, r)] for r in range(draws)],
            [sample.real[(dose, index, r)] for r in range(draws)],
        )
        for index in images
    }


def table_of(values: list[np.ndarray], dose: float, frames: int, pixel_size: float) -> SurfaceNull:
    """A one-level surface null of these spurious p-values (fingerprint left empty)."""
    level = SurfaceNullLevel(
        dose_per_area=dose,
        p_values=np.sort(np.concatenate(values)) if values else np.zeros(0),
        frames=frames,
    )
    return SurfaceNull({}, (level,), pixel_size, 2.0, "cross-validation")


def schemes(draws: int) -> dict[str, Callable[[np.ndarray], tuple[np.ndarray, int]]]:
    """Scheme name -> (calibration images -> (images used, draws used))."""
    return {
        "36 images, 1 draw (shipped recipe)": lambda pool: (spread_evenly(pool, 36), 1),
        "every image, 1 draw": lambda pool: (pool, 1),
        f"every image, {draws} draws": lambda pool: (pool, draws),
    }


def counts_below(
    table: SurfaceNull, dose: float, spurious: np.ndarray, real: np.ndarray
) -> np.ndarray:
    """``(2, len(ALPHAS))``: spurious and real candidates recalibrated at or below each alpha."""
    alphas = np.asarray(ALPHAS)
    s = table.p_values(spurious, dose)[0]
    r = table.p_values(real, dose)[0]
    return np.array([(s[:, None] <= alphas).sum(0), (r[:, None] <= alphas).sum(0)])


def cross_validate_once(
    frames: dict[int, tuple[list[np.ndarray], list[np.ndarray]]],
    images: np.ndarray,
    fold_of: np.ndarray,
    folds: int,
    dose: float,
    draws: int,
    pixel_size: float,
) -> dict[str, dict[str, Any]]:
    """Per scheme: candidates below each alpha, candidates tested, mean table size."""
    result = {}
    for name, choose in schemes(draws).items():
        below = np.zeros((2, len(ALPHAS)))
        tested = np.zeros(2)
        sizes = []
        for fold in range(folds):
            calibration, used = choose(images[fold_of != fold])
            values = [v for i in calibration for v in frames[int(i)][0][:used]]
            table = table_of(values, dose, len(calibration) * used, pixel_size)
            sizes.append(len(table.levels[0].p_values))
            held = images[fold_of == fold]
            spurious = np.concatenate([v for i in held for v in frames[int(i)][0]])
            real = np.concatenate([v for i in held for v in frames[int(i)][1]])
            below += counts_below(table, dose, spurious, real)
            tested += [len(spurious), len(real)]
        result[name] = {"below": below, "tested": tested, "table_size": float(np.mean(sizes))}
    return result


def summary(point: dict[str, Any], replicates: list[dict[str, Any]], images: int) -> dict:
    """Coverage ratio and power per alpha, with 95 % intervals from the replicates."""

    def ratio(entry: dict[str, Any]) -> np.ndarray:
        return entry["below"][0] / max(entry["tested"][0], 1) / np.asarray(ALPHAS)

    boot = np.array([ratio(r) for r in replicates]) if replicates else None
    value = ratio(point)
    return {
        "images": images,
        "spurious": int(point["tested"][0]),
        "real": int(point["tested"][1]),
        "table_size": point["table_size"],
        "levels": [
            {
                "alpha": alpha,
                "coverage_ratio": float(value[k]),
                "low": float(np.quantile(boot[:, k], 0.025)) if boot is not None else None,
                "high": float(np.quantile(boot[:, k], 0.975)) if boot is not None else None,
                "spurious_below": int(point["below"][0, k]),
                "power": float(point["below"][1, k] / max(point["tested"][1], 1)),
            }
            for k, alpha in enumerate(ALPHAS)
        ],
    }


def cross_validate(
    sample: SurfaceCandidateSample,
    dose: float,
    images: np.ndarray,
    structures: np.ndarray,
    folds: int,
    draws: int,
    seed: int,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """Every scheme's coverage and power over structure folds, with bootstrap intervals.

    The intervals resample structures (all defoci of one together) with replacement and redo
    the whole cross-validation on each resample, so they hold the spread of the tables (the
    calibration images) as well as that of the held-out images.
    """
    frames = frame_values(sample, dose, draws)
    images = np.asarray(images)
    structures = np.asarray(structures)
    ids = np.unique(structures)
    rank = {s: k for k, s in enumerate(ids)}
    fold_of = np.array([rank[s] % folds for s in structures])
    point = cross_validate_once(frames, images, fold_of, folds, dose, draws, sample.pixel_size)
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(resamples):
        drawn = rng.choice(len(ids), size=len(ids))
        members = [np.flatnonzero(structures == ids[k]) for k in drawn]
        chosen = images[np.concatenate(members)]
        fold_of = np.repeat(np.arange(len(drawn)) % folds, [len(m) for m in members])
        replicates.append(
            cross_validate_once(frames, chosen, fold_of, folds, dose, draws, sample.pixel_size)
        )
    return {
        name: summary(point[name], [r[name] for r in replicates], len(images)) for name in point
    }


def collect(
    name: str, path: Path, data: SimulatedDataset, images: np.ndarray, args: argparse.Namespace
) -> tuple[SurfaceCandidateSample, Any]:
    """The model's surface candidates on every image (cached in ``--work`` by weights)."""
    prepared = prepare("sbd", model=str(path))
    digest = method_fingerprint(prepared)["weights_sha256"][:16]
    cache = args.work / f"{digest}-{args.dose:g}-{args.draws}-{args.seed}.npz"
    if cache.exists():
        stored = np.load(cache)
        sample = SurfaceCandidateSample(
            _frames(stored, "s/"),
            _frames(stored, "r/"),
            float(stored["pixel_size"]),
            int(stored["given"]),
            int(stored["resampled"]),
        )
        return sample, prepared
    sample = collect_surface_candidates(
        prepared,
        data,
        images,
        doses=[args.dose],
        draws=args.draws,
        seed=args.seed,
        show_progress=not args.quiet,
    )
    args.work.mkdir(parents=True, exist_ok=True)
    arrays = {f"s/{d:g}_{i}_{r}": v for (d, i, r), v in sample.p_values.items()}
    arrays |= {f"r/{d:g}_{i}_{r}": v for (d, i, r), v in sample.real.items()}
    np.savez(cache, pixel_size=sample.pixel_size, given=sample.given,
             resampled=sample.resampled, **arrays)  # fmt: skip
    print(f"{name}: {len(images)} images x {args.draws} draws collected")
    return sample, prepared


def _frames(stored: Any, prefix: str) -> dict[tuple[float, int, int], np.ndarray]:
    """The ``(dose, image, draw) -> p-values`` arrays saved under ``prefix`` in a cache file."""
    frames = {}
    for name in stored.files:
        if name.startswith(prefix):
            dose, index, draw = name[len(prefix) :].split("_")
            frames[(float(dose), int(index), int(draw))] = stored[name]
    return frames


def shipped_table_check(
    sample: SurfaceCandidateSample,
    prepared: Any,
    dose: float,
    draws: int,
    seed: int,
    resamples: int = RESAMPLES,
) -> dict[str, Any] | None:
    """Coverage of the table beside the model on the images it was not made from.

    The table is fixed here, so the interval resamples the left-out images only.
    """
    path = sidecar_of(prepared)
    if path is None or not path.exists():
        return None
    table = SurfaceNull.load(path)
    made_from = {int(i) for i in table.source.split("images ")[1].split(";")[0].split(",")}
    frames = frame_values(sample, dose, draws)
    left_out = [i for i in frames if i not in made_from]

    def tally(images: list[int]) -> dict[str, Any]:
        spurious = np.concatenate([v for i in images for v in frames[i][0]])
        real = np.concatenate([v for i in images for v in frames[i][1]])
        return {
            "below": counts_below(table, dose, spurious, real),
            "tested": np.array([len(spurious), len(real)]),
            "table_size": float(len(table.level_for(dose).p_values)),
        }

    rng = np.random.default_rng(seed)
    replicates = [
        tally([left_out[k] for k in rng.choice(len(left_out), len(left_out))])
        for _ in range(resamples)
    ]
    entry = summary(tally(left_out), replicates, len(left_out))
    entry["table"] = str(path)
    return entry


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Surface null coverage on images it was not made from",
        "",
        f"Dataset `{result['dataset']}`, {result['images']} white images of {result['structures']} "
        f"structures, dose {result['dose']:g} e-/A^2, {result['draws']} Poisson draw(s) each; "
        f"{result['folds']}-fold cross-validation by structure. Coverage ratio: share of spurious "
        "surface candidates (no true column within 1 A) whose recalibrated p-value is at or below "
        "alpha, divided by alpha (<= 1: the null holds; 95 % interval from resampling structures "
        "and redoing the cross-validation, for the table beside the model from resampling the "
        "images it left out). Power: share of real surface candidates (a true column within "
        "0.5 A) at or below alpha.",
        "",
        f"Command: `{result['command']}`.",
        "",
        f"{machine_line(result['machine'])}; {result['seconds']:.0f} s.",
        "",
    ]
    for model, entry in result["models"].items():
        lines += [f"## {model} (`{entry['path']}`)", ""]
        header = "| scheme | table size | spurious / real tested |"
        header += "".join(f" alpha {a:g}: coverage ratio (95 %), power |" for a in ALPHAS)
        lines += [header, "|---|---|---|" + "---|" * len(ALPHAS)]
        rows = dict(entry["schemes"])
        if entry.get("shipped_table"):
            rows["the table beside the model, on the images it left out"] = entry["shipped_table"]
        for name, e in rows.items():
            cells = "".join(
                f" {lv['coverage_ratio']:.2f} ({lv['low']:.2f}-{lv['high']:.2f}), "
                f"{lv['power']:.2f} |"
                for lv in e["levels"]
            )
            lines.append(
                f"| {name} | {e['table_size']:.0f} | {e['spurious']} / {e['real']} "
                f"({e['images']} images) |{cells}"
            )
        lines.append("")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    models = result["models"]
    figure, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.5), squeeze=False)
    for axis, (model, entry) in zip(axes[0], models.items(), strict=True):
        rows = dict(entry["schemes"])
        if entry.get("shipped_table"):
            rows["table beside the model"] = entry["shipped_table"]
        for name, e in rows.items():
            alphas = [lv["alpha"] for lv in e["levels"]]
            observed = [lv["coverage_ratio"] * lv["alpha"] for lv in e["levels"]]
            low = [lv["low"] * lv["alpha"] for lv in e["levels"]]
            high = [lv["high"] * lv["alpha"] for lv in e["levels"]]
            spread = [np.subtract(observed, low), np.subtract(high, observed)]
            axis.errorbar(alphas, observed, yerr=spread, marker="o", capsize=3, label=name)
        axis.plot(ALPHAS, ALPHAS, "k--", lw=1, label="valid (share = alpha)")
        axis.set(xscale="log", yscale="log", xlabel="alpha", title=model,
                 ylabel="share of spurious surface candidates at p <= alpha")  # fmt: skip
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3, which="both")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument(
        "--model", action="append", required=True, help="NAME=PATH of an sbd model (repeatable)"
    )
    parser.add_argument("--dose", type=float, default=121.0, help="e-/A^2 (a table level)")
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=7, help="noise seed (tables use 0)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/surface-null-coverage"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_null_coverage")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    data = SimulatedDataset(args.dataset)
    images = select(data, "test", "white")
    structures = np.asarray(data.params["structure_id"])[images]
    result: dict[str, Any] = {
        "dataset": str(args.dataset),
        "images": len(images),
        "structures": len(np.unique(structures)),
        "dose": args.dose,
        "draws": args.draws,
        "folds": args.folds,
        "seed": args.seed,
        "command": "benchmarks/surface_null_coverage.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine("cpu"),
        "models": {},
    }
    for item in args.model:
        name, path = item.split("=", 1)
        sample, prepared = collect(name, Path(path), data, images, args)
        result["models"][name] = {
            "path": path,
            "schemes": cross_validate(
                sample,
                args.dose,
                images,
                structures,
                args.folds,
                args.draws,
                args.seed,
                args.resamples,
            ),
            "shipped_table": shipped_table_check(
                sample, prepared, args.dose, args.draws, args.seed, args.resamples
            ),
        }
    result["seconds"] = time.perf_counter() - start
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    plot(result, args.output / f"{args.name}.png")
    print(text)
    return result


if __name__ == "__main__":
    main()
