"""Two denoisers on one surface set, frame by frame: paired differences of the surface scores.

The median surface Jaccard moves in steps (a ratio of small whole numbers), so two models that
differ by a hundredth look the same in ``surface_evaluation.md``. Scored on the same Poisson draws
(seed 5, as ``surface_evaluation.py``), the per-frame differences of surface Jaccard, precision,
recall and PSNR have a mean and a standard error that show such a difference. For choosing
between training runs on a validation surface set (never the scored ``surface`` set)::

    .venv/bin/python benchmarks/surface_paired.py --dataset /work/data/surface-tilt31 \\
        v25=sbd:/work/models/v25.safetensors ap2500=sbd:/work/models/ap2500-half.safetensors

Each side is ``LABEL=METHOD`` or ``LABEL=sbd:MODEL_FILE``; the second is compared with the first.
Writes ``<name>.{json,md}`` to ``--output``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from surface_evaluation import SEED, method_params
from table1 import RESULTS, machine, machine_line, write_results

from sbdenoise.analysis.evaluation import CLEAN_REFERENCE, evaluate

#: Per-frame scores compared.
METRICS = ("surface_jaccard", "surface_precision", "surface_recall", "psnr")


def parse_side(text: str) -> tuple[str, str, Path | None]:
    """``LABEL=METHOD`` or ``LABEL=sbd:MODEL`` -> (label, method, model)."""
    label, sep, spec = text.partition("=")
    if not sep or not label or not spec:
        raise SystemExit(f"a side is LABEL=METHOD or LABEL=sbd:MODEL_FILE, got {text!r}")
    method, _, model = spec.partition(":")
    return label, method, Path(model) if model else None


def paired(first: np.ndarray, second: np.ndarray) -> dict[str, float | int]:
    """Mean and standard error of ``second - first`` over frames where both are finite."""
    both = np.isfinite(first) & np.isfinite(second)
    diff = second[both] - first[both]
    n = int(diff.size)
    return {
        "n": n,
        "first_median": float(np.median(first[both])) if n else float("nan"),
        "second_median": float(np.median(second[both])) if n else float("nan"),
        "first_mean": float(first[both].mean()) if n else float("nan"),
        "second_mean": float(second[both].mean()) if n else float("nan"),
        "difference": float(diff.mean()) if n else float("nan"),
        "standard_error": float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
        "better": int(np.sum(diff > 0)),
        "worse": int(np.sum(diff < 0)),
    }


def score(
    dataset: Path, method: str, model: Path | None, seed: int, max_images: int | None
) -> dict[str, np.ndarray]:
    """Per-frame scores of one side (Pt columns, one draw per test image)."""
    result = evaluate(
        dataset,
        method,
        params=method_params(method) if method != CLEAN_REFERENCE else None,
        model=model,
        n_realisations=1,
        max_images=max_images,
        seed=seed,
        elements=["Pt"],
    )
    return {name: result.metric(name) for name in METRICS}


def markdown(result: dict[str, Any]) -> str:
    a, b = result["labels"]
    lines = [
        f"# {b} against {a}, frame by frame",
        "",
        machine_line(result["machine"]),
        f"Dataset `{result['dataset']}`, one Poisson draw per test image (seed {result['seed']}), "
        f"Pt columns. Command: `{result['command']}` ({result['minutes']:.1f} min).",
        "",
        f"| score | {a} median | {b} median | {a} mean | {b} mean | {b} - {a} (mean ± se) | "
        "frames better / worse |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, e in result["metrics"].items():
        lines.append(
            f"| {name} | {e['first_median']:.3f} | {e['second_median']:.3f} | "
            f"{e['first_mean']:.3f} | {e['second_mean']:.3f} | "
            f"{e['difference']:+.4f} ± {e['standard_error']:.4f} | {e['better']} / {e['worse']} |"
        )
    return "\n".join([*lines, ""])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("sides", nargs=2, metavar="LABEL=METHOD[:MODEL]")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_paired")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    sides = [parse_side(text) for text in args.sides]
    scores = [score(args.dataset, m, f, args.seed, args.max_images) for _, m, f in sides]
    result = {
        "command": " ".join(["benchmarks/surface_paired.py", *(argv or sys.argv[1:])]),
        "dataset": str(args.dataset),
        "seed": args.seed,
        "labels": [label for label, _, _ in sides],
        "metrics": {name: paired(scores[0][name], scores[1][name]) for name in METRICS},
        "machine": machine("cpu"),
        "minutes": (time.perf_counter() - started) / 60.0,
    }
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
