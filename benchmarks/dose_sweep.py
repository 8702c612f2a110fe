"""SBD models against VST+BM3D at every dose and at two pixel sizes, and the shipping gate.

Two tables from one run, every method on the same noisy frames (fixed seeds):

1. **Gate**: the fixed test split of a dataset (``test``, white contrast, every image, one Poisson
   draw each at the dataset dose): PSNR and SSIM of each model given with ``--model NAME=FILE``
   and of VST+BM3D. ``scripts/ship_model.py --gate`` reads this table and refuses to ship a model
   that does not beat the shipped one here.
2. **Dose sweep**: PSNR at 0.1-2.0 e-/px in vacuum, at the dataset's pixel size (about 0.061 A, a
   spread subset of the test images) and at 0.8 x that (0.049 A/px: the same test structures
   simulated at that pixel size, see ``--small-pixel-data``), for each model and VST+BM3D. A
   clean image with vacuum ``d0`` becomes ``clean * d / d0`` at dose ``d``. Reported: PSNR peak
   1 e-/px against that truth (the papers' convention; at doses above 1 e-/px clipping to [0, 1]
   makes it meaningless, so the table's main figure is the *dose-normalised* PSNR: estimate and
   truth multiplied by ``0.45 / d`` first, i.e. the relative error on the 0.45 e-/px scale).

VST+BM3D uses the parameters tuned in ``benchmarks/results/table1.json`` when present, else its
registry defaults. Those were tuned at 0.45 e-/px; fewer counts call for coarser binning, so
``--bm3d-bins 4,6,12,16`` also runs VST+BM3D with each of those bin factors in the sweep and adds
the row ``vst-bm3d, best bin``: at each dose and pixel size the bin factor whose mean PSNR over
the sweep's own images is highest (chosen on the frames it is scored on, an upper bound for
VST+BM3D with one setting per dose); the SBD - BM3D column then counts against the better of
the two. Writes ``dose_sweep.json`` and ``dose_sweep.md`` to ``--output``::

    .venv/bin/python benchmarks/dose_sweep.py --dataset /work/data/shipped \\
        --model shipped=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \\
        --model candidate=/work/models/sbd-unet-dose.safetensors \\
        --small-pixel-data /work/data/robustness-pixel-0.8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import (
    RESULTS,
    machine,
    mean_std,
    noise_rng,
    robustness_spec,
    select,
    simulate_split,
    spread,
    write_atomic,
)

from sbdenoise.analysis.calibration import vacuum_candidates
from sbdenoise.config import DatasetSpec
from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.metrics import psnr, ssim
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Doses of the sweep, e-/px in vacuum at the dataset's pixel size.
DOSES = (0.1, 0.15, 0.3, 0.45, 0.6, 1.0, 1.5, 2.0)
#: The dose that dose-normalised PSNR refers to, e-/px.
REFERENCE_DOSE = 0.45
#: Pixel size factor of the second set (0.061 -> 0.049 A/px).
SMALL_PIXEL_SCALE = 0.8
#: Seed stream of this benchmark's noise.
STREAM = 7
#: Name prefix of the VST+BM3D variants run with another bin factor in the sweep.
BIN_VARIANT = "vst-bm3d b="
#: Row of the best bin factor per dose and pixel size (see :func:`best_bin_rows`).
BEST_BIN = "vst-bm3d, best bin"


def bm3d_params(table1: Path) -> dict[str, Any]:
    """Tuned VST+BM3D parameters from a Table 1 result, or {} (registry defaults)."""
    if not table1.is_file():
        return {}
    rows = json.loads(table1.read_text()).get("rows", [])
    row = next((r for r in rows if r.get("method") == "vst-bm3d"), {})
    return dict((row.get("info") or {}).get("params") or {})


def _split_model_option(item: str) -> tuple[str, str, dict[str, Any]]:
    """``NAME=FILE[,KEY=VALUE...]`` -> name, file and the method parameters (YAML values)."""
    name, _, rest = item.partition("=")
    path, *pairs = rest.split(",")
    params: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise SystemExit(f"--model {item}: expected KEY=VALUE after the file, got {pair!r}")
        params[key.strip()] = yaml.safe_load(value)
    return name, path, params


def model_files(items: list[str]) -> dict[str, Path]:
    """``NAME=FILE`` options as a name -> path mapping; none given: the shipped model."""
    from sbdenoise.pretrained import shipped_model_path

    models: dict[str, Path] = {}
    for item in items or [f"shipped={shipped_model_path()}"]:
        name, path, _ = _split_model_option(item)
        models[name] = Path(path)
    return models


def model_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """The method parameters given after each model file (``NAME=FILE,ensemble=8``)."""
    return {name: params for name, _, params in map(_split_model_option, items)}


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """The repeatable ``--model NAME=FILE[,KEY=VALUE...]`` option the model benchmarks share
    (see :func:`model_files` and :func:`model_params`)."""
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=FILE[,KEY=VALUE...]",
        help="a model to score (repeatable), optionally with parameters of the sbd method "
        "(e.g. shipped=FILE,ensemble=1); default: shipped=the shipped model",
    )


def denoisers(
    models: dict[str, Path],
    bm3d: dict[str, Any],
    params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Name -> prepared registry method, VST+BM3D first; ``params``: per-model parameters."""
    methods = {"vst-bm3d": prepare("vst-bm3d", bm3d)}
    for name, path in models.items():
        methods[name] = prepare(SBD_METHOD, (params or {}).get(name), model=path)
    return methods


def gate(
    data: SimulatedDataset, methods: dict[str, Any], show: bool, split: str = "test"
) -> dict[str, Any]:
    """Every white image of ``split``, one draw at the dataset dose: PSNR and SSIM per method."""
    indices = select(data, split, "white")
    scores: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": []} for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for index in progress_bar(indices, "gate", show=show):
        clean = data.image(int(index)).astype(np.float64)
        pixel = float(data.params["pixel_size"][index])
        noisy = sample_poisson(clean, noise_rng(STREAM, 0, int(index)))
        for name, method in methods.items():
            start = time.perf_counter()
            estimate = method.denoise_frame(noisy, pixel)
            seconds[name] += time.perf_counter() - start
            scores[name]["psnr"].append(psnr(estimate, clean))
            scores[name]["ssim"].append(ssim(estimate, clean))
    rows = {}
    for name in methods:
        mean, std = mean_std(scores[name]["psnr"])
        rows[name] = {
            "psnr": mean,
            "psnr_std": std,
            "ssim": mean_std(scores[name]["ssim"])[0],
            "seconds_per_image": seconds[name] / max(len(indices), 1),
            "psnr_per_image": scores[name]["psnr"],
        }
    return {
        "split": split,
        "n_images": len(indices),
        "indices": [int(i) for i in indices],
        "rows": rows,
    }


#: Frames, side (px), dose (e-/px) and pixel size (A) of the vacuum check of the gate.
#: 60 frames since 2026-12-04 (30 before): candidates come in clustered frames, and the frames
#: with candidates, the counts compared, are few.
VACUUM_FRAMES, VACUUM_SIDE, VACUUM_DOSE, VACUUM_PIXEL = 60, 512, 0.45, 0.061
#: Frames and side (px) of the wide vacuum check, reported beside the gate's since 2026-12-04:
#: 512 px is the networks' training field (128 working px) and the one size at which they behave;
#: a camera frame of 1024 px draws about 14x more candidates per area with the shipped model
#: (``benchmarks/results/vacuum_frame_size.md``). Reported, not a rule yet: every wide frame of
#: the shipped model holds candidates, so the count of frames says nothing.
WIDE_VACUUM_FRAMES, WIDE_VACUUM_SIDE = 16, 1024


def vacuum_check(
    methods: dict[str, Any], frames: int = VACUUM_FRAMES, side: int = VACUUM_SIDE
) -> dict[str, Any]:
    """Candidate columns each network draws in simulated vacuum (the same frames for each)."""
    rows = {}
    for name, method in methods.items():
        if name == "vst-bm3d":
            continue
        found = vacuum_candidates(
            lambda counts, m=method: m.denoise_frame(counts, VACUUM_PIXEL),
            dose=VACUUM_DOSE,
            pixel_size=VACUUM_PIXEL,
            frames=frames,
            side=side,
        )
        rows[name] = {
            "total": found.total,
            "per_frame": found.per_frame,
            "per_mpx": found.per_megapixel,
            "frames_with_candidates": found.frames_with_candidates,
            "counts_per_frame": list(found.counts_per_frame or ()),
        }
    return {
        "frames": frames,
        "side_px": side,
        "dose_e_per_px": VACUUM_DOSE,
        "pixel_size_A": VACUUM_PIXEL,
        "rows": rows,
    }


def sweep(
    sets: list[tuple[str, SimulatedDataset, np.ndarray]],
    methods: dict[str, Any],
    doses: tuple[float, ...],
    show: bool,
) -> list[dict[str, Any]]:
    """PSNR and dose-normalised PSNR of every method at every dose of every image set."""
    items = [(s, d, int(i)) for s, (_, _, idx) in enumerate(sets) for d in doses for i in idx]
    results: dict[tuple[int, float, str], dict[str, list[float]]] = {}
    for set_index, dose, index in progress_bar(items, "dose sweep", show=show):
        label, data, _ = sets[set_index]
        clean0 = data.image(index).astype(np.float64)
        pixel = float(data.params["pixel_size"][index])
        scale = dose / float(data.params["dose"][index])
        clean = clean0 * scale
        noisy = sample_poisson(clean, noise_rng(STREAM, 1 + set_index, int(dose * 1000), index))
        norm = REFERENCE_DOSE / dose
        for name, method in (("raw", None), *methods.items()):
            out = results.setdefault((set_index, dose, name), {"psnr": [], "norm": []})
            if method is None:
                out["psnr"].append(psnr(noisy, clean, clip=False))
                out["norm"].append(psnr(noisy * norm, clean * norm, clip=False))
                continue
            estimate = method.denoise_frame(noisy, pixel)
            out["psnr"].append(psnr(estimate, clean))
            out["norm"].append(psnr(estimate * norm, clean * norm))
    rows = []
    for (set_index, dose, name), out in results.items():
        label, data, idx = sets[set_index]
        pixel = float(np.mean(data.params["pixel_size"][idx]))
        rows.append(
            {
                "pixel_set": label,
                "pixel_size_A": pixel,
                "dose_e_per_px": dose,
                "dose_e_per_A2": dose / pixel**2,
                "method": name,
                "n_images": len(idx),
                "psnr": mean_std(out["psnr"])[0],
                "psnr_dose_normalised": mean_std(out["norm"])[0],
                "psnr_dose_normalised_std": mean_std(out["norm"])[1],
            }
        )
    return rows


def bm3d_bin_variants(bins: list[int], bm3d: dict[str, Any]) -> dict[str, Any]:
    """VST+BM3D with each bin factor of ``bins`` (other parameters from ``bm3d``), by name."""
    return {
        f"{BIN_VARIANT}{b}": prepare("vst-bm3d", {**bm3d, "bin_factor": b})
        for b in bins
        if b != bm3d.get("bin_factor")
    }


def best_bin_rows(rows: list[dict[str, Any]], main_bin: int | None) -> list[dict[str, Any]]:
    """Per pixel set and dose, the VST+BM3D setting (the tuned one or a bin variant) with the
    highest mean dose-normalised PSNR, as a row named :data:`BEST_BIN` with its ``bin_factor``;
    the variants' own rows are dropped."""
    kept = [r for r in rows if not r["method"].startswith(BIN_VARIANT)]
    best: dict[tuple[str, float], dict[str, Any]] = {}
    for row in rows:
        if row["method"] == "vst-bm3d":
            factor = main_bin
        elif row["method"].startswith(BIN_VARIANT):
            factor = int(row["method"][len(BIN_VARIANT) :])
        else:
            continue
        key = (row["pixel_set"], row["dose_e_per_px"])
        if key not in best or row["psnr_dose_normalised"] > best[key]["psnr_dose_normalised"]:
            best[key] = {**row, "method": BEST_BIN, "bin_factor": factor}
    return kept + list(best.values())


def markdown(result: dict[str, Any]) -> str:
    """The two tables."""
    m = result["machine"]
    names = list(result["gate"]["rows"])
    lines = [
        "# SBD vs VST+BM3D: the shipping gate and the dose sweep",
        "",
        f"Machine: {m['processor']}, {m['usable_cpus']} usable CPUs. Command: "
        f"`{result['command']}`. Total {result['total_seconds'] / 60:.1f} min.",
        "",
        f"## Gate: {result['gate'].get('split', 'test')} split of `{result['dataset']}` "
        f"(white, {result['gate']['n_images']} "
        "images x 1 draw at 0.45 e-/px)",
        "",
        "| method | PSNR (dB) | SSIM | s per image |",
        "|---|---|---|---|",
    ]
    for name in names:
        row = result["gate"]["rows"][name]
        lines.append(
            f"| {name} | {row['psnr']:.2f} ± {row['psnr_std']:.2f} | {row['ssim']:.4f} | "
            f"{row['seconds_per_image']:.2f} |"
        )
    if "vacuum" in result:
        vacuum = result["vacuum"]
        lines += [
            "",
            f"Candidate columns drawn in simulated vacuum ({vacuum['frames']} frames of "
            f"{vacuum['side_px']} px at {vacuum['dose_e_per_px']} e-/px, "
            f"{vacuum['pixel_size_A']} A/px, inside the trust analysis's 2 A border; "
            "candidates come in clustered frames, so `scripts/ship_model.py` refuses a model "
            "with more frames with candidates than the shipped one by over 2 standard errors): "
            + ", ".join(
                f"{n} {r['per_frame']:.2f} per frame, "
                f"{r.get('frames_with_candidates', '?')} of {vacuum['frames']} frames"
                for n, r in vacuum["rows"].items()
            )
            + ".",
        ]
    if "vacuum_wide" in result:
        wide = result["vacuum_wide"]
        lines += [
            "",
            f"The same in {wide['frames']} frames of {wide['side_px']} px, a camera frame wider "
            "than the 512 px training field (a rule of `scripts/ship_model.py` since "
            "2026-12-05; `benchmarks/results/vacuum_frame_size.md`): "
            + ", ".join(
                f"{n} {r['per_mpx']:.1f} per Mpx, {r['frames_with_candidates']} of "
                f"{wide['frames']} frames"
                for n, r in wide["rows"].items()
            )
            + ".",
        ]
    lines += [
        "",
        "## Dose sweep: dose-normalised PSNR (dB; estimate and truth x 0.45/dose, peak 1 e-/px)",
        "",
    ]
    with_best_bin = any(r["method"] == BEST_BIN for r in result["sweep"])
    methods = ["raw", *names, *([BEST_BIN] if with_best_bin else [])]
    baselines = ["vst-bm3d", *([BEST_BIN] if with_best_bin else [])]
    for label in dict.fromkeys(r["pixel_set"] for r in result["sweep"]):
        rows = [r for r in result["sweep"] if r["pixel_set"] == label]
        pixel = rows[0]["pixel_size_A"]
        lines += [
            f"### {label}: {pixel:.4f} A/px, {rows[0]['n_images']} images",
            "",
            "| dose (e-/px) | dose (e-/A^2) | " + " | ".join(methods) + " | best SBD - BM3D |",
            "|---|---|" + "---|" * len(methods) + "---|",
        ]
        for dose in result["doses"]:
            by = {r["method"]: r for r in rows if r["dose_e_per_px"] == dose}
            cells = [f"{by[name]['psnr_dose_normalised']:.2f}" for name in methods]
            if with_best_bin:
                cells[-1] += f" (b={by[BEST_BIN]['bin_factor']})"
            sbd = [by[n]["psnr_dose_normalised"] for n in names if n != "vst-bm3d"]
            floor = max(by[b]["psnr_dose_normalised"] for b in baselines)
            gap = max(sbd) - floor if sbd else float("nan")
            lines.append(
                f"| {dose:g} | {by['raw']['dose_e_per_A2']:.0f} | "
                + " | ".join(cells)
                + f" | {gap:+.2f} |"
            )
        lines.append("")
    lines += [
        "PSNR with peak 1 e-/px against the rescaled truth (the papers' convention at that dose) "
        "is in dose_sweep.json (`psnr`); above about 1 e-/px clipping the estimate to [0, 1] "
        "dominates it.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="dataset with a test split")
    add_model_argument(parser)
    parser.add_argument(
        "--small-pixel-data",
        type=Path,
        default=None,
        help="folder of the 0.8 x pixel-size test set (simulated there when missing)",
    )
    parser.add_argument(
        "--small-pixel-structures", type=int, default=2, help="test structures simulated there"
    )
    parser.add_argument("--max-images", type=int, default=8, help="sweep images at 0.061 A/px")
    parser.add_argument("--no-gate", action="store_true", help="skip the gate table")
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="split scored: test (the shipping gate) or val (choosing among candidates on a "
        "fresh validation split, e.g. that of a store merged with --fresh-validation)",
    )
    parser.add_argument("--table1", type=Path, default=RESULTS / "table1.json")
    parser.add_argument(
        "--bm3d-bins",
        type=lambda text: [int(b) for b in text.split(",")],
        default=[],
        help="comma-separated bin factors VST+BM3D also runs with in the sweep; the best per "
        "dose becomes a row (default: none)",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    show = not args.no_progress
    models = model_files(args.model)
    data = SimulatedDataset(args.dataset)
    methods = denoisers(models, bm3d_params(args.table1), model_params(args.model))
    result: dict[str, Any] = {
        "benchmark": "dose_sweep",
        "command": "python benchmarks/dose_sweep.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": str(args.dataset),
        "models": {k: str(v) for k, v in models.items()},
        "vst_bm3d_params": methods["vst-bm3d"].params,
        "doses": list(DOSES),
        "machine": machine("cpu"),
    }
    if not args.no_gate:
        result["gate"] = gate(data, methods, show, args.split)
        result["vacuum"] = vacuum_check(methods)
        result["vacuum_wide"] = vacuum_check(methods, WIDE_VACUUM_FRAMES, WIDE_VACUUM_SIDE)
    test = select(data, args.split, "white")
    sets = [("dataset pixel size", data, spread(test, args.max_images))]
    if args.small_pixel_data is not None:
        base = DatasetSpec.model_validate(data.spec)
        name, spec = robustness_spec(base, pixel_scales=(SMALL_PIXEL_SCALE,))[-1]
        store = simulate_split(
            spec,
            args.small_pixel_data,
            show_progress=show,
            max_structures=args.small_pixel_structures,
        )
        small = SimulatedDataset(store.parent)
        sets.append((f"{name} (0.8 x)", small, select(small, "test", "white")))
    bm3d = methods["vst-bm3d"].params
    variants = bm3d_bin_variants(args.bm3d_bins, bm3d)
    result["sweep"] = sweep(sets, {**methods, **variants}, DOSES, show)
    if args.bm3d_bins:
        result["sweep"] = best_bin_rows(result["sweep"], bm3d.get("bin_factor"))
        result["bm3d_bins"] = sorted({*args.bm3d_bins, bm3d.get("bin_factor")} - {None})
    result["total_seconds"] = time.perf_counter() - start
    args.output.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output / "dose_sweep.json", json.dumps(result, indent=2) + "\n")
    if "gate" in result:
        write_atomic(args.output / "dose_sweep.md", markdown(result))
    print(markdown(result) if "gate" in result else json.dumps(result["sweep"], indent=1))
    return result


if __name__ == "__main__":
    main()
