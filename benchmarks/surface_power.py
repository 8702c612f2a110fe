"""Surface columns a model's verdicts confirm at a matched false discovery rate.

``scripts/ship_model.py`` refuses a candidate whose realised surface FDR at the verdicts' nominal
level is above the shipped model's. That FDR mixes two things: how well the network's output lets
the test tell real surface columns from spurious ones (discrimination), and how conservative the
model's surface null happens to be (calibration: each model has its own). This benchmark separates
them. For each model it ranks the scored surface candidates of ``benchmarks/trust.py`` runs
(``--candidates CSV``, several noise streams of the same held-out images pooled) by the verdicts'
own evidence (``-log p``), and for every threshold counts the real surface columns confirmed and
the realised FDR. At a matched realised FDR (1, 2, 3, 5 %) the model that confirms more real
surface columns discriminates better, whatever its null. The difference between two models is
bootstrapped over images (every noise draw of a structure together), paired: both models
denoised the same frames. The nominal verdicts' FDR difference gets the same paired bootstrap
(the two-proportion error of ``ship_model.py`` treats candidates as independent), and the
spurious supported candidates are split by the verdicts' class and by whether the clean image is
brighter than vacuum there (a fringe, not a column).

Writes ``NAME.json``, ``NAME.md`` and ``NAME.png`` (confirmed real surface columns against realised
FDR, one curve per model, the nominal verdicts marked)::

    .venv/bin/python benchmarks/surface_power.py --run shipped=A13.csv,A14.csv \
        --run w=B13.csv,B14.csv --output benchmarks/results --name surface_power_w
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, machine, write_results

#: Realised FDRs at which models are compared.
LEVELS = (0.01, 0.02, 0.03, 0.05)
#: Frame resamples of the paired bootstrap.
BOOTSTRAP = 1000
#: Evidence column of the candidate CSV (``-log p`` of the calibrated verdicts).
EVIDENCE = "signal_calibrated"


@dataclass(frozen=True)
class SurfaceCandidates:
    """The scored surface candidates of one model, pooled over trust runs.

    Attributes
    ----------
    evidence : numpy.ndarray
        ``-log p`` of each candidate (larger: more real).
    real : numpy.ndarray
        True when a true column lies within 0.5 A (else spurious: none within 1 A).
    supported : numpy.ndarray
        The verdict at the model's nominal level.
    frame : numpy.ndarray
        Frame key of each candidate (run, image, noise draw).
    image : numpy.ndarray
        Image (structure) of each candidate: the unit the bootstrap resamples, since the
        frames of one structure share its surface.
    fdr_class : numpy.ndarray
        The verdicts' class of each candidate (``surface``: facing the vacuum, ``lattice``,
        ``bulk``).
    bright : numpy.ndarray
        True where the clean image is brighter than vacuum at the candidate (an intensity
        feature such as a fringe, not necessarily a column).
    """

    evidence: np.ndarray
    real: np.ndarray
    supported: np.ndarray
    frame: np.ndarray
    image: np.ndarray
    fdr_class: np.ndarray
    bright: np.ndarray


def read_candidates(paths: list[Path]) -> SurfaceCandidates:
    """Pool the scored surface candidates of ``benchmarks/trust.py --candidates`` CSVs.

    Frames are keyed by the file's position in ``paths`` (the noise stream), the image and the
    draw, so the same keys in two models' lists name the same noisy frame.
    """
    columns: dict[str, list] = {name: [] for name in SurfaceCandidates.__dataclass_fields__}
    for stream, path in enumerate(paths):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if len({row["method"] for row in rows}) > 1:
            raise ValueError(f"{path} holds several methods; run trust.py with one")
        for row in rows:
            is_real, is_spurious = row["real"] == "True", row["spurious"] == "True"
            if row["surface"] != "True" or not (is_real or is_spurious):
                continue
            columns["evidence"].append(float(row[EVIDENCE]))
            columns["real"].append(is_real)
            columns["supported"].append(row["supported"] == "True")
            columns["frame"].append(f"{stream}:{row['image']}:{row['realisation']}")
            columns["image"].append(int(row["image"]))
            columns["fdr_class"].append(row.get("fdr_class", ""))
            columns["bright"].append(float(row.get("clean_score", "nan")) > 0)
    return SurfaceCandidates(**{name: np.asarray(values) for name, values in columns.items()})


def nominal_fdr(candidates: SurfaceCandidates, weight: np.ndarray | None = None) -> float:
    """Realised FDR of the nominal verdicts (spurious among supported), each candidate weighted.

    Returns NaN when nothing is supported.
    """
    weight = np.ones(len(candidates.real)) if weight is None else weight
    supported = np.sum(weight * candidates.supported)
    spurious = np.sum(weight * (candidates.supported & ~candidates.real))
    return float(spurious / supported) if supported else float("nan")


def confirmed_at(evidence: np.ndarray, real: np.ndarray, level: float) -> int:
    """Most real candidates confirmed by one evidence threshold with realised FDR <= ``level``.

    Parameters
    ----------
    evidence : numpy.ndarray
        Evidence per candidate (larger: more real).
    real : numpy.ndarray
        Real (True) or spurious (False) per candidate.
    level : float
        Largest realised FDR allowed (fraction).

    Returns
    -------
    int
        Real candidates at or above the lowest threshold that keeps the FDR at ``level``.
    """
    order = np.argsort(-evidence, kind="stable")
    ranked_real = real[order]
    ranked_evidence = evidence[order]
    true_positives = np.cumsum(ranked_real)
    selected = np.arange(1, len(order) + 1)
    # A threshold keeps every candidate of equal evidence: only the last of a tie is a cut.
    last_of_tie = np.append(ranked_evidence[1:] != ranked_evidence[:-1], True)
    fdr = 1.0 - true_positives / selected
    allowed = last_of_tie & (fdr <= level + 1e-12)
    return int(true_positives[allowed].max()) if allowed.any() else 0


def curve(candidates: SurfaceCandidates) -> tuple[np.ndarray, np.ndarray]:
    """Realised FDR and real candidates confirmed at every evidence threshold (top down)."""
    order = np.argsort(-candidates.evidence, kind="stable")
    real = candidates.real[order]
    true_positives = np.cumsum(real)
    return 1.0 - true_positives / np.arange(1, len(real) + 1), true_positives


def paired_bootstrap(
    mine: SurfaceCandidates,
    theirs: SurfaceCandidates,
    statistic: Callable[[SurfaceCandidates, np.ndarray], float],
    seed: int = 0,
) -> dict[str, float]:
    """``statistic(mine) - statistic(theirs)`` with its bootstrap over images, paired.

    Images (structures, with all their frames: every noise stream and draw) are resampled with
    replacement, the same draw for both models, since one structure's surface decides much of
    what both models draw on it.

    Parameters
    ----------
    statistic : callable
        ``statistic(candidates, weight)``: the value with each candidate counted ``weight``
        times (its image's multiplicity in the resample).

    Returns
    -------
    dict
        ``difference`` (on all images), ``se`` (bootstrap standard error), ``share_above``
        (share of resamples where ``mine`` is larger).
    """
    images = np.union1d(np.unique(mine.image), np.unique(theirs.image))
    index_mine = np.searchsorted(images, mine.image)
    index_theirs = np.searchsorted(images, theirs.image)
    rng = np.random.default_rng(seed)
    differences = np.empty(BOOTSTRAP)
    for b in range(BOOTSTRAP):
        weight = np.bincount(rng.integers(0, len(images), len(images)), minlength=len(images))
        differences[b] = statistic(mine, weight[index_mine]) - statistic(
            theirs, weight[index_theirs]
        )
    full = statistic(mine, np.ones(len(mine.real))) - statistic(theirs, np.ones(len(theirs.real)))
    return {
        "difference": float(full),
        "se": float(np.nanstd(differences, ddof=1)),
        "share_above": float(np.mean(differences > 0)),
    }


def stream_differences(mine: SurfaceCandidates, theirs: SurfaceCandidates) -> dict[str, Any]:
    """The nominal FDR difference on each noise stream alone, and its spread between streams.

    The paired bootstrap resamples images, each with all its frames; a stream holds one draw of
    the noise for every image. When the streams disagree more than the bootstrap's standard error
    allows, the frames of a stream are not as independent as the bootstrap assumes (or a stream
    is an outlier), and the pooled difference is less certain than it reports. Reported beside
    it, not used by ``scripts/ship_model.py`` (which must not refuse less because of it).

    Returns
    -------
    dict
        ``differences`` (one per stream, in the order of the CSVs) and ``se_between_streams``
        (their standard deviation over the square root of their number; None for one stream).
    """
    stream_mine = np.array([int(key.split(":")[0]) for key in mine.frame])
    stream_theirs = np.array([int(key.split(":")[0]) for key in theirs.frame])
    differences = [
        nominal_fdr(mine, (stream_mine == stream).astype(float))
        - nominal_fdr(theirs, (stream_theirs == stream).astype(float))
        for stream in np.union1d(stream_mine, stream_theirs)
    ]
    spread = (
        float(np.nanstd(differences, ddof=1) / np.sqrt(len(differences)))
        if len(differences) > 1
        else None
    )
    return {"differences": [float(d) for d in differences], "se_between_streams": spread}


def confirmed_statistic(level: float) -> Callable[[SurfaceCandidates, np.ndarray], float]:
    """:func:`confirmed_at` at ``level`` as a weighted statistic (for :func:`paired_bootstrap`)."""

    def statistic(candidates: SurfaceCandidates, weight: np.ndarray) -> float:
        repeats = weight.astype(int)
        return float(
            confirmed_at(
                np.repeat(candidates.evidence, repeats), np.repeat(candidates.real, repeats), level
            )
        )

    return statistic


def false_supported(candidates: SurfaceCandidates) -> dict[str, int]:
    """Spurious supported surface candidates by the verdicts' class, bright or not."""
    false = candidates.supported & ~candidates.real
    return {
        f"{kind} ({'bright' if bright else 'dark'})": int(
            np.sum(false & (candidates.fdr_class == kind) & (candidates.bright == bright))
        )
        for kind in sorted(set(candidates.fdr_class[false]))
        for bright in (True, False)
    }


def run(args: argparse.Namespace, models: dict[str, SurfaceCandidates]) -> dict[str, Any]:
    reference = args.run[0][0]
    summary: dict[str, Any] = {}
    for name, candidates in models.items():
        n_supported = int(candidates.supported.sum())
        spurious = int(np.sum(candidates.supported & ~candidates.real))
        entry: dict[str, Any] = {
            "frames": len(np.unique(candidates.frame)),
            "images": len(np.unique(candidates.image)),
            "surface_real": int(candidates.real.sum()),
            "surface_spurious": int((~candidates.real).sum()),
            "nominal_supported": n_supported,
            "nominal_real": n_supported - spurious,
            "nominal_fdr": nominal_fdr(candidates) if n_supported else None,
            "false_supported_by_class": false_supported(candidates),
            "confirmed_at": {
                f"{level:g}": confirmed_at(candidates.evidence, candidates.real, level)
                for level in LEVELS
            },
        }
        if name != reference:
            entry["against_" + reference] = {
                f"{level:g}": paired_bootstrap(
                    candidates, models[reference], confirmed_statistic(level)
                )
                for level in LEVELS
            }
            entry["nominal_fdr_against_" + reference] = paired_bootstrap(
                candidates, models[reference], nominal_fdr
            )
            entry["nominal_fdr_by_stream_against_" + reference] = stream_differences(
                candidates, models[reference]
            )
        summary[name] = entry
    return {
        "command": " ".join(sys.argv),
        "runs": {name: [str(p) for p in paths] for name, paths in args.run},
        "evidence": EVIDENCE,
        "levels": list(LEVELS),
        "bootstrap": BOOTSTRAP,
        "reference": reference,
        "machine": machine("cpu"),
        "models": summary,
    }


def markdown(result: dict[str, Any]) -> str:
    reference = result["reference"]
    levels = [f"{level:g}" for level in result["levels"]]
    lines = [
        "# Surface columns confirmed at a matched realised FDR",
        "",
        "Scored surface candidates of `benchmarks/trust.py --candidates` runs, pooled per model,",
        f"ranked by the verdicts' evidence (`{result['evidence']}`, -log p). Columns: real surface",
        "columns confirmed by the lowest evidence threshold whose realised FDR stays at the level.",
        f"Differences against `{reference}` are paired over the same noisy frames, standard error",
        f"from {result['bootstrap']} resamples of the images (all frames of a structure together).",
        "`nominal`: the verdicts as shipped (each model's own surface null).",
        "",
        "| model | images (frames) | real / spurious surface candidates | nominal: real confirmed, "
        "FDR | " + " | ".join(f"confirmed at {100 * float(x):g} %" for x in levels) + " |",
        "|---|---|---|---|" + "---|" * len(levels),
    ]

    def paired_text(paired: dict[str, float], scale: float, digits: int) -> str:
        return (
            f" ({scale * paired['difference']:+.{digits}f} ± {scale * paired['se']:.{digits}f}, "
            f"{100 * paired['share_above']:.0f} % of resamples above)"
        )

    for name, entry in result["models"].items():
        fdr = entry["nominal_fdr"]
        nominal = f"{entry['nominal_real']}, " + ("-" if fdr is None else f"{100 * fdr:.1f} %")
        if "nominal_fdr_against_" + reference in entry:
            nominal += paired_text(entry["nominal_fdr_against_" + reference], 100, 1)
        cells = []
        for level in levels:
            cell = str(entry["confirmed_at"][level])
            paired = entry.get("against_" + reference, {}).get(level)
            if paired is not None:
                cell += paired_text(paired, 1, 0)
            cells.append(cell)
        lines.append(
            f"| {name} | {entry['images']} ({entry['frames']}) | {entry['surface_real']} / "
            f"{entry['surface_spurious']} | {nominal} | " + " | ".join(cells) + " |"
        )
    for name, entry in result["models"].items():
        by_stream = entry.get("nominal_fdr_by_stream_against_" + reference)
        if by_stream is None or by_stream["se_between_streams"] is None:
            continue
        paired = entry["nominal_fdr_against_" + reference]
        values = ", ".join(f"{100 * d:+.1f}" for d in by_stream["differences"])
        lines += [
            "",
            f"{name} against {reference}, nominal FDR difference on each noise stream alone: "
            f"{values} points; their spread gives the pooled difference a standard error of "
            f"{100 * by_stream['se_between_streams']:.1f} points between streams, against "
            f"{100 * paired['se']:.1f} from the image bootstrap (the gate uses the bootstrap).",
        ]
    lines += [
        "",
        "Spurious surface candidates the nominal verdicts support, by the verdicts' class "
        "(bright: the clean image is brighter than vacuum there, an intensity feature such as a "
        "fringe; dark: a discovery the noise made):",
        "",
    ]
    for name, entry in result["models"].items():
        parts = [f"{kind} {n}" for kind, n in entry["false_supported_by_class"].items()]
        lines.append(f"- {name}: " + (", ".join(parts) if parts else "none"))
    lines += ["", f"Command: `{result['command']}`", f"Machine: {result['machine']}", ""]
    return "\n".join(lines)


def plot(models: dict[str, SurfaceCandidates], path: Path) -> Path:
    """Confirmed real surface columns against realised FDR, one curve per model (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.0, 4.6), dpi=130)
    for k, (name, candidates) in enumerate(models.items()):
        fdr, confirmed = curve(candidates)
        colour = f"C{k}"
        axes.plot(100 * fdr, confirmed, color=colour, lw=1.4, label=name)
        n_supported = int(candidates.supported.sum())
        if n_supported:
            real = int(np.sum(candidates.supported & candidates.real))
            axes.plot(
                100 * (1 - real / n_supported), real, "o", color=colour, ms=6, mec="black",
                label=f"{name}: verdicts as shipped",
            )  # fmt: skip
    for level in LEVELS:
        axes.axvline(100 * level, color="0.85", lw=0.8, zorder=0)
    axes.set_xlim(0, 10)
    axes.set_xlabel("realised FDR among confirmed surface candidates (%)")
    axes.set_ylabel("real surface columns confirmed")
    axes.set_title("Surface verdicts: discrimination at a matched FDR")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def parse_run(text: str) -> tuple[str, list[Path]]:
    """``NAME=CSV[,CSV...]`` -> (name, paths); the first run is the reference."""
    name, _, files = text.partition("=")
    if not name or not files:
        raise argparse.ArgumentTypeError(f"expected NAME=CSV[,CSV...], got {text!r}")
    paths = [Path(f) for f in files.split(",")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise argparse.ArgumentTypeError(f"no such candidate CSV: {', '.join(missing)}")
    return name, paths


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run",
        type=parse_run,
        action="append",
        required=True,
        help="NAME=CSV[,CSV...]: one model's candidate CSVs, streams in the same order for "
        "every model; the first --run is the reference",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_power")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    models = {name: read_candidates(paths) for name, paths in args.run}
    result = run(args, models)
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    plot(models, args.output / f"{args.name}.png")
    print(text)
    return result


if __name__ == "__main__":
    main()
