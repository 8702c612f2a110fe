"""Install a trained model as the shipped one, with its Table 1 test metrics in the card.

Usage (from the repository root)::

    .venv/bin/python benchmarks/dose_sweep.py --dataset DATA --model shipped=SHIPPED \\
        --model candidate=MODEL.safetensors                             # the gate table
    .venv/bin/python benchmarks/rotation.py --dataset DATA --model shipped=SHIPPED \\
        --model candidate=MODEL.safetensors --no-bm3d       # the specimen turned by any angle
    sbdenoise surface-null SURFACE_DATA --model MODEL.safetensors --exclude HELD_OUT
                                      # its surface null, MODEL.surface-null.json beside it
    .venv/bin/python benchmarks/trust.py --dataset SURFACE_DATA --model MODEL.safetensors \\
        --methods sbd --stream 13 ... --name trust_candidate_13    # and the shipped model's,
                                          # same frames; again with --stream 14 for both
    .venv/bin/python benchmarks/surface_power.py --run shipped=CANDIDATES_SHIPPED_13,..14 \\
        --run candidate=CANDIDATES_13,..14 --name surface_power_candidate  # paired over images
    .venv/bin/python scripts/ship_model.py MODEL.safetensors \\
        --gate benchmarks/results/dose_sweep.json --rotation benchmarks/results/rotation.json \\
        --trust trust_candidate_13.json trust_shipped_13.json \\
        --trust trust_candidate_14.json trust_shipped_14.json \\
        --surface-power surface_power_candidate.json   # streams pooled, at least two
                                                    # install it if it beats the shipped model

``scripts/candidate_checks.sh MODEL NAME OUT`` runs every check and prints this command.
    .venv/bin/python benchmarks/table1.py ...                           # test the shipped model
    .venv/bin/python scripts/ship_model.py src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \
        --table1 benchmarks/results/table1.json                          # add its test metrics

The weights are re-saved through :func:`sbdenoise.nn.save_model` (safetensors + JSON card, no
pickle) as ``src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors``. The card keeps what the
trainer wrote (architecture, sampling, dose, optics, defocus range, training data, measured
receptive field, validation metrics) and gains the test metrics of the ``sbd-unet`` row of the
Table 1 results, which must have been computed with this very model file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats

from sbdenoise.analysis.calibration import VacuumCandidates
from sbdenoise.nn.model_file import load_model, model_paths, parameters_dtype, save_model
from sbdenoise.pretrained import SHIPPED_MODEL_NAME

TARGET = Path(__file__).resolve().parents[1] / "src" / "sbdenoise" / "pretrained"
MAX_BYTES = 20 * 2**20


def check_not_installed(module, shipped: Path) -> None:
    """Refuse to gate a model whose weights are the installed model's.

    The gate's tables compare a candidate with the model that was installed when they were
    computed; run again after the candidate shipped, they would ship it a second time as a new
    version against its predecessor's rows.

    Raises
    ------
    SystemExit
        When every tensor of ``module`` equals the installed model's.
    """
    installed, _ = load_model(shipped)
    mine, theirs = module.state_dict(), installed.state_dict()
    if mine.keys() == theirs.keys() and all(
        mine[key].shape == theirs[key].shape and bool((mine[key] == theirs[key]).all())
        for key in mine
    ):
        raise SystemExit(f"these weights are already installed ({shipped.name}): nothing to ship")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_metrics(table1: dict, weights: Path) -> dict:
    """The ``sbd-unet`` row of a Table 1 result as card metrics; refuses another model's row."""
    row = next((r for r in table1["rows"] if r["method"] == "sbd-unet"), None)
    if row is None or row.get("status") != "ok":
        raise SystemExit("the Table 1 results have no sbd-unet row: run benchmarks/table1.py")
    used = (row.get("info") or {}).get("model")
    if used is not None and Path(used).resolve() != weights.resolve():
        raise SystemExit(f"the Table 1 sbd-unet row was computed with {used}, not {weights}")
    dataset = table1["dataset"]
    bm3d = next((r for r in table1["rows"] if r["method"] == "vst-bm3d"), {})
    return {
        "test_dataset": dataset["name"],
        "test_split": dataset["split"],
        "test_contrast": dataset["contrast"],
        "test_images": dataset["n_used"],
        "test_structures": dataset["n_test_structures"],
        "test_realisations": table1["settings"]["realisations"],
        "test_psnr_db": row["psnr"],
        "test_psnr_std_db": row["psnr_std"],
        "test_ssim": row["ssim"],
        "test_vst_bm3d_psnr_db": bm3d.get("psnr"),
        "seconds_per_1024_frame": row["seconds_1024"],
        "timing_machine": "{processor}, {usable_cpus} usable CPUs, {torch_threads} torch threads, "
        "{device}".format(**table1["machine"]),
        "psnr_convention": table1["settings"]["psnr"],
    }


HISTORY = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "model_history.md"
HISTORY_HEADER = (
    "# Shipped models\n\n"
    "Each row is a model installed with `scripts/ship_model.py --gate`: test PSNR on the gate "
    "table of `benchmarks/dose_sweep.py` (every white test image of the `shipped` preset, one "
    "Poisson draw at 0.45 e-/px, peak 1 e-/px), VST+BM3D on the same frames.\n\n"
    "| version | date | architecture | steps | wall hours (2 cores) | test PSNR (dB) | "
    "VST+BM3D (dB) | gap (dB) | previous model (dB) | dose range (e-/A^2) |\n"
    "|---|---|---|---|---|---|---|---|---|---|\n"
)


def check_vacuum(result: dict, name: str, check: str = "vacuum") -> None:
    """Refuse a model that draws more candidate columns in simulated vacuum than the shipped one.

    A spurious column costs almost nothing in PSNR, so the PSNR gate alone would let a model
    that invents more of them through. The gate's vacuum checks (``benchmarks/dose_sweep.py``)
    count them on the same frames for both: ``"vacuum"`` in 60 frames of 512 px,
    ``"vacuum_wide"`` in 16 camera-sized frames of 1024 px, where phantom particles grow
    (``benchmarks/results/vacuum_frame_size.md``). Candidates come in clusters (a few frames
    with a phantom particle's outline), so the frames with candidates are compared where the
    gate recorded them (since 2026-12-04), else the candidates as Poisson counts; more by over 2
    standard errors is refused.

    Parameters
    ----------
    result : dict
        The gate's JSON (``dose_sweep.py``).
    name : str
        The candidate's row.
    check : str
        Which vacuum check: ``"vacuum"`` or ``"vacuum_wide"``.
    """
    vacuum = result.get(check)
    if not vacuum or name not in vacuum["rows"] or "shipped" not in vacuum["rows"]:
        raise SystemExit(f"the gate has no {check} check of both models: rerun dose_sweep.py")
    frames, setting = (
        vacuum["frames"],
        (vacuum["side_px"], vacuum["dose_e_per_px"], vacuum["pixel_size_A"]),
    )
    mine, theirs = (
        VacuumCandidates(
            vacuum["rows"][key]["total"],
            frames,
            *setting,
            frames_with_candidates=vacuum["rows"][key].get("frames_with_candidates"),
            counts_per_frame=tuple(vacuum["rows"][key].get("counts_per_frame") or ()) or None,
        )
        for key in (name, "shipped")
    )
    if mine.exceeds(theirs):
        by_frame = ""
        if mine.frames_with_candidates is not None and theirs.frames_with_candidates is not None:
            by_frame = (
                f", in {mine.frames_with_candidates} of {frames} frames against "
                f"{theirs.frames_with_candidates}"
            )
        raise SystemExit(
            f"refused: {name} draws {mine.per_frame:.2f} candidate columns per simulated vacuum "
            f"frame of {vacuum['side_px']} px against {theirs.per_frame:.2f} for the shipped "
            f"model{by_frame} (more by over 2 standard errors): a model that invents more "
            "columns does not ship"
        )


#: Standard errors of a paired PSNR loss at one angle that refuse a model.
ROTATION_SIGMAS = 2.0


def check_rotation(result: dict, name: str, weights: Path) -> None:
    """Refuse a model that is worse than the shipped one with the specimen turned.

    The gate's frames are upright, so a model trained to fit upright frames can pass it and
    still serve a micrograph at 30 or 45 degrees worse (run o, 2026-12-03). The rotation table
    (``benchmarks/rotation.py``) scores both on the same turned frames; a paired mean loss at
    any angle beyond :data:`ROTATION_SIGMAS` standard errors is refused.
    """
    rows = result.get("scores", {}).get("rows", {})
    used = result.get("models", {}).get(name)
    if name not in rows or "shipped" not in rows or used is None:
        raise SystemExit("the rotation table has no rows of both models: rerun rotation.py")
    if Path(used).resolve() != weights.resolve():
        raise SystemExit(f"the rotation row {name!r} was computed with {used}, not {weights}")
    for angle in result["angles_deg"]:
        key = str(angle)
        mine = np.asarray(rows[name][key]["psnr_per_image"], dtype=np.float64)
        theirs = np.asarray(rows["shipped"][key]["psnr_per_image"], dtype=np.float64)
        diff = mine - theirs
        error = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        if diff.mean() < -ROTATION_SIGMAS * error:
            raise SystemExit(
                f"refused: turned by {angle:g} degrees {name} scores {diff.mean():+.3f} ± "
                f"{error:.3f} dB against the shipped model: a micrograph's support lies at any "
                "angle"
            )


#: False discovery rate the calibrated verdicts promise (``sbdenoise.analysis.trust``).
PROMISED_FDR = 0.05
#: Standard errors by which a candidate's realised surface FDR may exceed the shipped one's.
TRUST_SIGMAS = 2.0
#: What two trust runs must share to be compared.
TRUST_SETTINGS = ("dataset", "images", "exclude_spread", "stream", "draws", "region_A")
#: Noise streams the trust check pools at least: one stream's luck chose models before (v9's
#: surface FDR was 3.5 % on stream 13, the stream every check had used, and 6.4 % on stream 14).
MIN_TRUST_STREAMS = 2


def _surface_counts(run: dict) -> tuple[int, int]:
    """``(spurious, supported)`` surface candidates of one ``benchmarks/trust.py`` result."""
    counts = run["methods"]["sbd"]["fdr_surface"]
    return int(counts["spurious"]), int(counts["supported"])


def pooled_surface_counts(pairs: list[tuple[dict, dict]]) -> tuple[np.ndarray, np.ndarray]:
    """``(spurious, supported)`` surface candidates summed over the trust runs' streams, of the
    candidate and of the shipped model (the pairs of :func:`check_trust`)."""
    mine = np.sum([_surface_counts(candidate) for candidate, _ in pairs], axis=0)
    theirs = np.sum([_surface_counts(shipped) for _, shipped in pairs], axis=0)
    return mine, theirs


def check_paired_surface_fdr(
    result: dict, name: str, supported: int, shipped_supported: int
) -> dict[str, float]:
    """Refuse a model whose surface FDR is higher than the shipped one's, paired over images.

    The two-proportion test of :func:`check_trust` treats the two models' candidates as
    independent, but both denoised the same noisy frames of the same structures: most of the
    spread of either FDR is shared. ``benchmarks/surface_power.py`` bootstraps the difference
    over images with both models' candidates resampled together; a difference above
    :data:`TRUST_SIGMAS` of its standard errors is refused (run z at 7,000: 3.1 % against 2.1 %,
    1.4 standard errors unpaired but +1.0 ± 0.4 points paired, with four spurious surface
    columns "supported" where the clean image is dark against none).

    Parameters
    ----------
    result : dict
        ``benchmarks/surface_power.py`` result with runs named ``shipped`` (the reference) and
        ``name``, made from the candidates of the trust runs given to :func:`check_trust`.
    name : str
        The candidate's run name.
    supported, shipped_supported : int
        Surface columns the nominal verdicts support in the pooled trust runs of the candidate
        and of the shipped model: the surface power run must count the same.

    Returns
    -------
    dict
        Card metrics: the paired FDR difference and its standard error.
    """
    models = result.get("models", {})
    if result.get("reference") != "shipped" or name not in models or "shipped" not in models:
        raise SystemExit(
            f"the surface power result needs runs 'shipped' (the reference) and {name!r}; "
            f"it has {sorted(models)} against {result.get('reference')!r}"
        )
    for run, expected in ((name, supported), ("shipped", shipped_supported)):
        if models[run].get("nominal_supported") != expected:
            raise SystemExit(
                f"the surface power run {run!r} counts {models[run].get('nominal_supported')} "
                f"supported surface columns, the trust runs {expected}: make both from the same "
                "candidates"
            )
    paired = models[name]["nominal_fdr_against_shipped"]
    difference, error = float(paired["difference"]), float(paired["se"])
    if difference > TRUST_SIGMAS * error:
        raise SystemExit(
            f"refused: surface FDR higher than the shipped model's by {100 * difference:.1f} ± "
            f"{100 * error:.1f} points, paired over the same images and noise (over "
            f"{TRUST_SIGMAS:g} standard errors; {100 * paired['share_above']:.0f} % of resamples "
            "above)"
        )
    return {"trust_surface_fdr_paired_difference": difference, "trust_surface_fdr_paired_se": error}


def check_trust(pairs: list[tuple[dict, dict]], weights: Path) -> dict:
    """Refuse a model whose "supported" surface columns are false more often than promised.

    PSNR barely sees a column continued into the vacuum; the trust verdicts do. Each pair holds
    the results of ``benchmarks/trust.py`` for the candidate and the shipped model on the same
    held-out frames of the ``surface`` preset and the same noise stream; the pairs must cover at
    least :data:`MIN_TRUST_STREAMS` different streams, whose counts are pooled. Refused: a
    pooled realised surface FDR whose 95 % Wilson interval lies above the promised 5 %, or
    above the shipped model's by more than :data:`TRUST_SIGMAS` standard errors
    (two-proportion test). Candidates cluster by image, so these intervals are, if anything,
    too narrow: the streams are pooled for that reason.

    Returns
    -------
    dict
        Card metrics: the pooled realised surface FDR and its interval, the streams, the
        surface null used.
    """
    streams = [candidate.get("stream") for candidate, _ in pairs]
    if len(set(streams)) < MIN_TRUST_STREAMS or len(set(streams)) != len(streams):
        raise SystemExit(
            f"the trust check needs runs on at least {MIN_TRUST_STREAMS} different noise streams "
            f"(--stream of benchmarks/trust.py), one pair per stream; got streams {streams}"
        )
    for candidate, shipped in pairs:
        for key in TRUST_SETTINGS:
            if candidate.get(key) != shipped.get(key):
                raise SystemExit(
                    f"the two trust runs differ in {key}: rerun them on the same frames"
                )
            if key != "stream" and candidate.get(key) != pairs[0][0].get(key):
                raise SystemExit(f"the trust runs of different streams differ in {key}")
        used = candidate.get("model")
        if used is None or Path(used).resolve() != weights.resolve():
            raise SystemExit(f"the candidate's trust run was computed with {used}, not {weights}")
    (spurious, supported), (theirs_spurious, theirs_supported) = pooled_surface_counts(pairs)
    if supported == 0:
        raise SystemExit("refused: the candidate supports no surface column in the trust runs")
    mine = spurious / supported
    theirs = theirs_spurious / max(theirs_supported, 1)
    interval = stats.binomtest(int(spurious), int(supported)).proportion_ci(0.95, "wilson")
    if interval.low > PROMISED_FDR:
        raise SystemExit(
            f"refused: {100 * mine:.1f} % of the surface columns the candidate's verdicts "
            f"support are false ({spurious} / {supported} over streams {streams}; 95 % interval "
            f"from {100 * interval.low:.1f} %), above the promised {100 * PROMISED_FDR:.0f} %"
        )
    n1, n2 = supported, max(theirs_supported, 1)
    pooled = (spurious + theirs_spurious) / (n1 + n2)
    error = np.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n1 + 1 / n2))
    if mine - theirs > TRUST_SIGMAS * error:
        raise SystemExit(
            f"refused: surface FDR {100 * mine:.1f} % against {100 * theirs:.1f} % for the "
            f"shipped model over streams {streams} (more by over {TRUST_SIGMAS:g} standard "
            "errors)"
        )
    return {
        "trust_surface_fdr": float(mine),
        "trust_surface_fdr_interval": [float(interval.low), float(interval.high)],
        "trust_surface_supported": int(supported),
        "trust_streams": streams,
        "trust_surface_null": pairs[0][0].get("surface_null"),
        "trust_dataset": pairs[0][0]["dataset"],
    }


def install(module, card, half_precision: bool) -> Path:
    """Write the model into the package, replacing the shipped one only once it is known good.

    The files are written into a staging folder beside the package's first: a model over
    :data:`MAX_BYTES`, or one that does not load back, is refused and the shipped model stays
    as it was. A model gated in half precision (``soup_models.py --half-precision``) is installed
    in half precision, so the installed file is the gated one.
    """
    with tempfile.TemporaryDirectory(dir=TARGET, prefix=".staging-") as staging:
        staged = save_model(
            Path(staging) / SHIPPED_MODEL_NAME, module, card, half_precision=half_precision
        )
        size = staged.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(
                f"{staged.name} is {size / 2**20:.1f} MiB, over the 20 MiB limit (store it in "
                "half precision: scripts/soup_models.py --half-precision, then gate that file); "
                "the shipped model is unchanged"
            )
        load_model(staged)  # the file to install loads
        target = TARGET / SHIPPED_MODEL_NAME
        staged.with_suffix(".json").replace(target.with_suffix(".json"))
        staged.replace(target)
    return target


def install_surface_null(weights: Path, module) -> list[Path]:
    """Copy the candidate's surface nulls beside the installed model: the plain network's and one
    per self-ensemble size that has one (each must match its weights); the shipped model's old
    tables that the candidate has no counterpart for are removed, not left to mismatch."""
    from sbdenoise.analysis.surface_null import SurfaceNull, sidecar_path, weights_digest
    from sbdenoise.denoise.inference import ENSEMBLE_SIZES

    installed = []
    for ensemble in ENSEMBLE_SIZES:
        source = sidecar_path(weights, ensemble)
        target = sidecar_path(TARGET / SHIPPED_MODEL_NAME, ensemble)
        if not source.is_file():
            target.unlink(missing_ok=True)
            continue
        table = SurfaceNull.load(source)
        if table.fingerprint.get("weights_sha256") != weights_digest(module):
            raise SystemExit(f"{source} was made with other weights than {weights}")
        installed.append(table.save(target))
    return installed


def gate_metrics(gate_file: Path, name: str, weights: Path) -> dict:
    """The candidate's gate row as card metrics; refuses a model that does not beat the shipped.

    The gate table (``benchmarks/dose_sweep.py``) must hold a row ``name`` computed with this very
    file, a ``shipped`` row and a ``vst-bm3d`` row, all on the same frames.
    """
    result = json.loads(gate_file.read_text())
    rows = result.get("gate", {}).get("rows", {})
    used = result.get("models", {}).get(name)
    if name not in rows or used is None:
        raise SystemExit(f"{gate_file} has no gate row {name!r}: run benchmarks/dose_sweep.py")
    if Path(used).resolve() != weights.resolve():
        raise SystemExit(f"the gate row {name!r} was computed with {used}, not {weights}")
    if "shipped" not in rows:
        raise SystemExit(f"{gate_file} has no 'shipped' row to compare with")
    candidate, shipped, bm3d = rows[name], rows["shipped"], rows["vst-bm3d"]
    if not candidate["psnr"] > shipped["psnr"]:
        raise SystemExit(
            f"refused: {name} scores {candidate['psnr']:.2f} dB on the test split, not above the "
            f"shipped model's {shipped['psnr']:.2f} dB"
        )
    check_vacuum(result, name)
    check_vacuum(result, name, "vacuum_wide")
    return {
        "test_dataset": result["dataset"],
        "test_split": "test",
        "test_contrast": "white",
        "test_images": result["gate"]["n_images"],
        "test_realisations": 1,
        "test_psnr_db": candidate["psnr"],
        "test_psnr_std_db": candidate["psnr_std"],
        "test_ssim": candidate["ssim"],
        "test_vst_bm3d_psnr_db": bm3d["psnr"],
        "test_previous_model_psnr_db": shipped["psnr"],
        "psnr_convention": "peak 1 e-/px, estimate clipped to [0, 1]",
    }


def append_history(card, metrics: dict, cpu_hours: float | None, steps: int | None) -> None:
    """Add the installed model to benchmarks/results/model_history.md."""
    text = HISTORY.read_text() if HISTORY.exists() else HISTORY_HEADER
    lines = text.splitlines()
    shipped_rows = [k for k, line in enumerate(lines) if re.match(r"\| v\d+ \|", line)]
    version = len(shipped_rows) + 1
    kwargs = ", ".join(f"{k} {v}" for k, v in card.architecture_kwargs.items())
    dose = card.dose_range_per_area
    row = (
        f"| v{version} | {card.created[:10]} | {card.architecture} ({kwargs}) | "
        f"{steps if steps is not None else card.metrics.get('best_step', '?')} | "
        f"{'?' if cpu_hours is None else f'{cpu_hours:.2f}'} | {metrics['test_psnr_db']:.2f} | "
        f"{metrics['test_vst_bm3d_psnr_db']:.2f} | "
        f"{metrics['test_psnr_db'] - metrics['test_vst_bm3d_psnr_db']:+.2f} | "
        f"{metrics['test_previous_model_psnr_db']:.2f} | "
        f"{'single dose' if dose is None else f'{dose[0]:g}-{dose[1]:g}'} |"
    )
    # the row goes under the last shipped one (the candidates' table may follow)
    at = shipped_rows[-1] + 1 if shipped_rows else len(lines)
    HISTORY.write_text("\n".join([*lines[:at], row, *lines[at:]]) + "\n")


def main(argv: list[str]) -> Path:
    """Copy the model into the package with the test metrics added to its card."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="trained model (.safetensors or card .json)")
    parser.add_argument(
        "--table1", type=Path, default=None, help="table1.json computed with this model file"
    )
    parser.add_argument(
        "--gate",
        type=Path,
        default=None,
        help="dose_sweep.json with this model's gate row: refuse unless it beats the shipped one",
    )
    parser.add_argument(
        "--rotation",
        type=Path,
        default=None,
        help="rotation.json with this model's and the shipped model's rows: refuse a model "
        "worse at any angle (needed with --gate)",
    )
    parser.add_argument(
        "--trust",
        type=Path,
        nargs=2,
        action="append",
        default=None,
        metavar=("CANDIDATE", "SHIPPED"),
        help="trust.json of the candidate and of the shipped model on the same held-out "
        "surface frames and noise stream, once per stream (at least two streams, pooled): "
        "refuse over-confident verdicts (needed with --gate)",
    )
    parser.add_argument(
        "--surface-power",
        type=Path,
        default=None,
        help="benchmarks/surface_power.py result of the same trust runs' candidates: refuse a "
        "surface FDR higher than the shipped model's, paired over images (needed with --gate)",
    )
    parser.add_argument("--name", default="candidate", help="the model's row in the gate table")
    parser.add_argument(
        "--cpu-hours", type=float, default=None, help="training wall hours on the machine"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="optimisation steps of the model's lineage"
    )
    args = parser.parse_args(argv)
    weights, _ = model_paths(args.model)
    module, card = load_model(weights)
    shipped = (TARGET / SHIPPED_MODEL_NAME).resolve()
    if args.gate is None and args.table1 is None and shipped.exists():
        if weights.resolve() != shipped:
            raise SystemExit("a new model ships only through the gate: pass --gate dose_sweep.json")
    gated = None
    if args.gate is not None:
        if shipped.exists():
            check_not_installed(module, shipped)
        if args.rotation is None:
            raise SystemExit("a model ships through the gate with --rotation rotation.json too")
        if args.trust is None:
            raise SystemExit(
                "a model ships through the gate with --trust CANDIDATE SHIPPED too (per stream)"
            )
        if args.surface_power is None:
            raise SystemExit(
                "a model ships through the gate with --surface-power surface_power.json too"
            )
        check_rotation(json.loads(args.rotation.read_text()), args.name, weights)
        pairs = [
            (json.loads(mine.read_text()), json.loads(theirs.read_text()))
            for mine, theirs in args.trust
        ]
        trusted = check_trust(pairs, weights)
        (_, supported), (_, shipped_supported) = pooled_surface_counts(pairs)
        trusted |= check_paired_surface_fdr(
            json.loads(args.surface_power.read_text()),
            args.name,
            int(supported),
            int(shipped_supported),
        )
        gated = {**gate_metrics(args.gate, args.name, weights), **trusted}
        card = card.model_copy(update={"metrics": {**card.metrics, **gated}})
    if args.table1 is not None:
        metrics = test_metrics(json.loads(args.table1.read_text()), weights)
        card = card.model_copy(update={"metrics": {**card.metrics, **metrics}})
    target = install(module, card, half_precision=parameters_dtype(weights) == "float16")
    size = target.stat().st_size
    for table in install_surface_null(weights, module):
        print(f"surface null installed: {table}")
    if gated is not None:
        append_history(card, gated, args.cpu_hours, args.steps)
    print(f"shipped {target} ({size / 2**20:.2f} MiB, sha256 {sha256(target)[:16]}...)")
    return target


if __name__ == "__main__":
    main(sys.argv[1:])
