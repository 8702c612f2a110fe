"""What ``match`` plus retraining recovers on frames outside the shipped model's conditions.

For each mismatched condition of ``benchmarks/mismatch.py`` (defocus -25 nm and an 8 nm support,
where the shipped model fell below VST+BM3D), the user's workflow is played through:

1. **The user's simulations**: a candidate dataset on a grid that contains the condition among
   others (new structures: seed 78, the test frames use 77): defocus -28 to -1 nm in 3 nm steps,
   or supports of 4, 6 and 8 nm.
2. **match**: a 20-frame series at 0.45 e-/px drawn from the condition's first test frame is
   ranked against the candidate dataset (:func:`sbdenoise.match.match_conditions`, conditions by
   defocus and contrast, plus the support thickness for the support case); the top 3 conditions
   become training filters (``MatchResult.subset``, what ``match.yaml`` holds).
3. **Retraining**: the shipped model fine-tuned on the matched subset's training images for
   ``--steps`` steps (its recipe: dose range, frame-mean input, dose-weighted loss). Control: the
   same number of steps on the candidate dataset's images inside the shipped model's own
   conditions (defocus -20 to -6 nm, supports up to 6 nm), so that what matching buys is told
   apart from what more training on new structures buys; and, when the match missed the
   condition, the same number of steps on the candidates at the condition's true value (what
   retraining could recover with a perfect match).
4. **Scores** on the condition's test frames (one Poisson draw each at 0.45 e-/px, the same
   draws for every method): PSNR and unmatched detected columns for the shipped model, the
   matched and the control retraining, and VST+BM3D.

Simulations, matches and trainings are cached in ``--work`` (rerun to resume). Writes
``mismatch_recovery.json`` and ``.md``::

    .venv/bin/python benchmarks/mismatch_recovery.py --work /work/data/mismatch-recovery \\
        --mismatch-work /work/data/mismatch --structures 4 --steps 300
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dose_sweep import bm3d_params
from mismatch import condition_stores, score
from table1 import RESULTS, machine, write_results

from sbdenoise.match import match_conditions
from sbdenoise.nn.model_file import read_card
from sbdenoise.simulate.presets import get_preset
from sbdenoise.simulate.runner import run_simulation
from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.training import TrainSpec, train
from sbdenoise.training.trainer import LOG_NAME

SHIPPED = (
    Path(__file__).resolve().parents[1] / "src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors"
)
SERIES_FRAMES = 20
SERIES_DOSE = 0.45  # e-/px
SERIES_SEED = 13

#: condition label (as in mismatch.py) -> candidate grid, match fields, the control's filters
CASES: dict[str, dict[str, Any]] = {
    "defocus -25 nm": {
        "name": "defocus",
        "optics": {"defocus_nm": [-28.0 + 3.0 * k for k in range(10)]},
        "specimen": {},
        "structures": 16,
        "by": ("defocus_nm", "contrast"),
        "control": {"defocus_nm": [-20.0, -6.0]},
        "truth": {"defocus_nm": [-25.0, -25.0]},
    },
    "support 8 nm": {
        "name": "support",
        "optics": {"defocus_nm": [-16.0, -13.0, -10.0]},
        "specimen": {"support_thickness_nm": [4.0, 6.0, 8.0]},
        "structures": 24,
        "by": ("support_thickness_nm", "defocus_nm", "contrast"),
        "control": {"support_thickness_nm": [3.0, 6.0]},
        "truth": {"support_thickness_nm": [8.0, 8.0]},
    },
}


def candidate_spec(case: dict[str, Any]) -> Any:
    """The user's simulations for one case: the shipped preset on a grid around the condition."""
    base = get_preset("shipped")
    return base.model_copy(
        update={
            "name": f"recovery-{case['name']}",
            "n_structures": case["structures"],
            "seed": 78,
            "optics": base.optics.model_copy(update=case["optics"]),
            "specimen": base.specimen.model_copy(update=case["specimen"]),
        }
    )


def series_of(store: Path, dose: float = SERIES_DOSE) -> tuple[np.ndarray, float]:
    """A seeded Poisson series (frames, y, x) of the store's first image and its pixel size."""
    data = SimulatedDataset(store)
    record = data.record(0)
    expected = record.image / record.image.mean() * dose
    rng = np.random.default_rng(SERIES_SEED)
    frames = rng.poisson(np.broadcast_to(expected, (SERIES_FRAMES, *expected.shape)))
    return frames.astype(np.float32), float(record.params["pixel_size"])


def retrain(
    dataset: Path, filters: dict[str, Any], output: Path, steps: int, threads: int
) -> dict[str, Any]:
    """Fine-tune the shipped model on ``dataset`` restricted to ``filters`` (resumable)."""
    card = read_card(SHIPPED)
    spec = TrainSpec(
        dataset=str(dataset),
        architecture=card.architecture,
        architecture_kwargs=card.architecture_kwargs,
        init_from=str(SHIPPED),
        steps=steps,
        validate_every=max(steps // 3, 1),
        val_crops=32,
        lr=5e-5,
        seed=3,
        loss_weighting="dose",
        filters=filters,
    )
    result = train(spec, output, show_progress=True, threads=threads)
    with open(result.run_dir / LOG_NAME, newline="") as handle:
        seconds = float(list(csv.DictReader(handle))[-1]["seconds"])  # summed over resumes
    return {
        "model": str(result.model_path),
        "filters": filters,
        "steps": result.step,
        "best_step": result.best_step,
        "val_psnr_db": result.best_psnr_db,
        "minutes": seconds / 60.0,
    }


def covers(filters: dict[str, Any], truth: dict[str, Any]) -> bool:
    """Whether range filters include every value of ``truth``'s ranges."""
    for key, (low, high) in truth.items():
        if key not in filters or not (filters[key][0] <= low and high <= filters[key][1]):
            return False
    return True


def true_rank(records: list[dict[str, Any]], truth: dict[str, Any]) -> int | None:
    """Rank (1 = best) of the first condition at the true values, None when none was scored."""
    for record in records:
        if all(float(record.get(key, np.nan)) == low for key, (low, _) in truth.items()):
            return int(record["rank"])
    return None


def run_case(
    label: str, case: dict[str, Any], store: Path, args: argparse.Namespace, bm3d: dict[str, Any]
) -> dict[str, Any]:
    """Simulate, match, retrain (matched, control, true condition) and score one condition.

    The true condition's retraining (the candidates at the condition's own value) is trained
    only when the matched subset leaves it out; otherwise it is the matched one.
    """
    folder = args.work / case["name"]
    timing = folder / "simulation_minutes.txt"  # kept, so a resumed run reports the first
    start = time.perf_counter()
    run_simulation(candidate_spec(case), folder / "candidates", scheduler="synchronous")
    if not timing.exists():
        timing.write_text(f"{(time.perf_counter() - start) / 60.0:.3f}\n")
    simulate_minutes = float(timing.read_text())
    frames, pixel_size = series_of(store)
    start = time.perf_counter()
    matched = match_conditions(frames, folder / "candidates", pixel_size=pixel_size, by=case["by"])
    match_minutes = (time.perf_counter() - start) / 60.0
    filters, _ = matched.subset(top=3)
    filters = {**filters, "contrast": filters.get("contrast", ["white"])}
    control = {**case["control"], "contrast": ["white"]}
    trainings = {
        "matched": retrain(
            folder / "candidates", filters, folder / "matched", args.steps, args.threads
        ),
        "control": retrain(
            folder / "candidates", control, folder / "control", args.steps, args.threads
        ),
    }
    if covers(filters, case["truth"]):
        trainings["truth"] = trainings["matched"]
    else:
        truth = {**case["truth"], "contrast": filters["contrast"]}
        trainings["truth"] = retrain(
            folder / "candidates", truth, folder / "truth", args.steps, args.threads
        )
    scores = {
        "shipped": score(store, "sbd", bm3d),
        "vst-bm3d": score(store, "vst-bm3d", bm3d),
    }
    for name, training in trainings.items():
        scores[name] = score(store, "sbd", bm3d, model=training["model"])
    records = matched.records()
    return {
        "ranking": records[:5],
        "true_condition_rank": true_rank(records, case["truth"]),
        "conditions_ranked": len(records),
        "series_contrast": matched.contrast[0],
        "simulate_minutes": simulate_minutes,
        "match_minutes": match_minutes,
        "trainings": trainings,
        "scores": scores,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# What match + retraining recovers",
        "",
        f"Machine: {result['machine'].get('processor', '?')}, "
        f"{result['machine'].get('usable_cpus', '?')} usable CPUs. Command: "
        f"`{result['command']}`; {result['minutes']:.1f} min wall in all. Each retraining: the "
        f"shipped model fine-tuned for {result['steps']} steps (batch 8 of 128 px crops). Test "
        "frames: the condition's images of `benchmarks/mismatch.py`, one Poisson draw each at "
        "0.45 e-/px; unmatched columns: detected columns with no true column within the match "
        "distance, per image.",
        "",
        "| condition | match: top 3 -> training filters (rank of the true condition) | shipped "
        "SBD (dB) | matched retraining (dB) | control retraining (dB) | true-condition "
        "retraining (dB) | VST+BM3D (dB) | unmatched columns per image, shipped / matched / "
        "control / true / VST+BM3D |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, row in result["cases"].items():
        s = row["scores"]
        top = "; ".join(
            ", ".join(f"{k} {v}" for k, v in r.items() if k not in _RANKING_NUMBERS)
            for r in row["ranking"][:3]
        )
        filters = json.dumps(row["trainings"]["matched"]["filters"])
        rank = f"{row['true_condition_rank']} of {row['conditions_ranked']}"
        unmatched = " / ".join(
            f"{s[m]['unmatched_columns']:.1f}"
            for m in ("shipped", "matched", "control", "truth", "vst-bm3d")
        )
        lines.append(
            f"| {label} ({s['shipped']['images']} frames) | {top} -> `{filters}` ({rank}) | "
            f"{s['shipped']['psnr']:.2f} | {s['matched']['psnr']:.2f} | "
            f"{s['control']['psnr']:.2f} | {s['truth']['psnr']:.2f} | "
            f"{s['vst-bm3d']['psnr']:.2f} | {unmatched} |"
        )
    lines += ["", "Costs (minutes): simulation of the candidates, match, each retraining.", ""]
    for label, row in result["cases"].items():
        lines.append(
            f"- {label}: simulation {row['simulate_minutes']:.1f}, match "
            f"{row['match_minutes']:.1f}, matched retraining "
            f"{row['trainings']['matched']['minutes']:.1f} "
            f"({row['trainings']['matched']['filters']}), control "
            f"{row['trainings']['control']['minutes']:.1f}, true condition "
            f"{row['trainings']['truth']['minutes']:.1f}"
        )
    return "\n".join(lines) + "\n"


_RANKING_NUMBERS = {"rank", "loglik", "delta_loglik", "deviance_per_px", "n_images", "best_image"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="Simulations and trainings.")
    parser.add_argument(
        "--mismatch-work", type=Path, required=True, help="benchmarks/mismatch.py's --work."
    )
    parser.add_argument("--structures", type=int, default=4, help="Test structures per case.")
    parser.add_argument("--steps", type=int, default=300, help="Fine-tuning steps per model.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    stores = condition_stores(args.mismatch_work, args.structures)
    bm3d = bm3d_params(RESULTS / "table1.json")
    cases = {}
    for label, case in CASES.items():
        cases[label] = run_case(label, case, stores[label], args, bm3d)
        print(label, json.dumps(cases[label]["scores"]), flush=True)
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine("cpu"),
        "minutes": (time.perf_counter() - start) / 60.0,
        "steps": args.steps,
        "cases": cases,
    }
    write_results(args.output, "mismatch_recovery", result, markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
