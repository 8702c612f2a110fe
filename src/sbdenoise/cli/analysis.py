"""Analysis commands: evaluate, likelihood, report, surface-null and explain.

:func:`register` adds them to the main ``sbdenoise`` typer app (called by :mod:`sbdenoise.cli`).
Every command is a thin layer over :mod:`sbdenoise.analysis`; errors meant for the user are
printed in one line, naming the file, with exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from sbdenoise.cli.support import (
    AssumeOption,
    GainOption,
    MethodOption,
    MethodParamOption,
    ModelOption,
    OffsetOption,
    ParamOption,
    PixelSizeOption,
    QuietBarOption,
    QuietOption,
    console,
    fail,
    parse_params,
)
from sbdenoise.errors import InputError, OutputError, SbdenoiseError


def _parse_pixel(text: str) -> tuple[int, int]:
    """``"120,64"`` -> ``(120, 64)`` (row, column)."""
    try:
        row, col = (int(part) for part in text.replace(" ", "").split(","))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected ROW,COL in pixels, for example 120,64", param_hint="--pixel"
        ) from None
    return row, col


def _read_frame(path: Path, what: str) -> Any:
    """Read one 2-D frame with its calibration; refuse stacks, naming the file."""
    from sbdenoise.io import read_image

    micrograph = read_image(path)
    if micrograph.data.ndim != 2:
        raise InputError(
            f"the {what} must be one frame (y, x), but this file holds {micrograph.n_frames} "
            "frames: pick one first",
            path,
        )
    return micrograph


def _pixel_size(override: float | None, *micrographs: Any) -> float:
    """The pixel size: the option, else the first file that has one (they must agree)."""
    if override is not None:
        if not override > 0:
            raise InputError(f"--pixel-size must be a positive number of Å, got {override}")
        return float(override)
    known = [(m.source, m.pixel_size) for m in micrographs if m.pixel_size is not None]
    if not known:
        raise InputError(
            "the file gives no pixel size: pass --pixel-size (angstrom per pixel)",
            micrographs[0].source,
        )
    source, value = known[0]
    for other, size in known[1:]:
        if abs(size - value) > 0.01 * value:
            raise InputError(
                f"pixel size {size:.5g} Å differs from {value:.5g} Å in {source}: "
                "pass --pixel-size to say which is right",
                other,
            )
    return float(value)


def _check_outputs(outputs: list[Path], inputs: list[Path]) -> None:
    """Refuse to write over an input."""
    resolved = {Path(p).resolve() for p in inputs}
    for out in outputs:
        if Path(out).resolve() in resolved:
            raise OutputError("refusing to overwrite an input file", out)


def _counts(micrograph: Any, gain: float | None, offset: float | None, assume: bool) -> np.ndarray:
    from sbdenoise.noise.counts import prepare_counts

    return prepare_counts(
        micrograph.data, micrograph.source, gain=gain, offset=offset, assume_counts=assume
    )


def _denoised_counts(micrograph: Any, gain: float | None, offset: float | None) -> np.ndarray:
    from sbdenoise.noise.counts import detector_to_counts

    data = np.asarray(micrograph.data, dtype=np.float64)
    if gain is not None or offset is not None:
        data = detector_to_counts(data, 1.0 if gain is None else gain, offset or 0.0)
    return data


def _same_shape(a: Any, b: Any) -> None:
    if a.data.shape != b.data.shape:
        raise InputError(
            f"shape {b.data.shape} differs from {a.data.shape} of {a.source}: the two frames "
            "must be the same field of view",
            b.source,
        )


def _read_pair(
    noisy: Path,
    denoised: Path,
    pixel_size: float | None,
    gain: float | None,
    offset: float | None,
    assume_counts: bool,
    truth: Path | None = None,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """Read a noisy frame and its denoised frame (and the truth), one field of view.

    Parameters
    ----------
    noisy, denoised : Path
        The noisy frame and the denoised frame of the same field.
    pixel_size : float or None
        Pixel size in Å overriding the files' calibration.
    gain, offset : float or None
        Detector units per electron and dark level (detector units) of both files.
    assume_counts : bool
        Use the noisy values as electron counts without checking.
    truth : Path, optional
        Noise-free frame of the same field.

    Returns
    -------
    counts : numpy.ndarray
        The noisy frame in electron counts per pixel.
    image : numpy.ndarray
        The denoised frame in e-/px (float64).
    size : float
        Pixel size, Å.
    clean : numpy.ndarray or None
        The truth frame (float64), when given.
    """
    noisy_mic = _read_frame(noisy, "noisy input")
    denoised_mic = _read_frame(denoised, "denoised input")
    _same_shape(noisy_mic, denoised_mic)
    mics = [noisy_mic, denoised_mic]
    clean = None
    if truth is not None:
        truth_mic = _read_frame(truth, "truth")
        _same_shape(noisy_mic, truth_mic)
        mics.append(truth_mic)
        clean = np.asarray(truth_mic.data, dtype=np.float64)
    size = _pixel_size(pixel_size, *mics)
    counts = _counts(noisy_mic, gain, offset, assume_counts)
    image = _denoised_counts(denoised_mic, gain, offset)
    return counts, image, size, clean


def _judge(counts: np.ndarray, image: np.ndarray, size: float, options: dict[str, Any]) -> Any:
    """Verdicts on every candidate (:func:`sbdenoise.analysis.trust.judge_frame`), as the
    ``likelihood`` and ``report`` commands ask for them."""
    from sbdenoise.analysis.trust import judge_frame

    return judge_frame(counts, image, size, **options)


VacuumOption = Annotated[
    float | None,
    typer.Option(help="Vacuum rate in e-/px (default: estimated from a flat vacuum region)."),
]
RadiusOption = Annotated[float, typer.Option(help="Radius of a column region, in Å.")]
RealOption = Annotated[float, typer.Option(help="Value (nats/px) at or above which: real.")]
SpuriousOption = Annotated[float, typer.Option(help="Value (nats/px) at or below which: spurious.")]


def register(app: typer.Typer) -> None:
    """Add the analysis commands to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The main ``sbdenoise`` application.
    """
    from sbdenoise.analysis.bootstrap import DEFAULT_DRAWS
    from sbdenoise.analysis.likelihood import DEFAULT_RADIUS_A, DEFAULT_REAL, DEFAULT_SPURIOUS
    from sbdenoise.analysis.trust import (
        DEFAULT_FDR,
        DEFAULT_REGION_A,
        SURFACE_NEIGHBOURHOOD_A,
    )

    @app.command()
    def likelihood(
        noisy: Annotated[Path, typer.Argument(help="Noisy frame (electron counts).")],
        denoised: Annotated[Path, typer.Argument(help="Denoised frame of the same field.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="PNG of the verdicts.")],
        csv: Annotated[
            Path | None, typer.Option(help="CSV of every candidate (default: beside the PNG).")
        ] = None,
        method: Annotated[
            str,
            typer.Option(
                help="The method that made DENOISED: its null is simulated in vacuum and the "
                "bootstrap reruns it (see 'sbdenoise methods')."
            ),
        ] = "sbd",
        param: ParamOption = None,
        model: ModelOption = None,
        verdicts: Annotated[
            str,
            typer.Option(
                help="calibrated (p-values from simulated vacuum, FDR-controlled: supported / not "
                "supported / contradicted) or thresholds (the papers' fixed values: real / "
                "uncertain / spurious)."
            ),
        ] = "calibrated",
        fdr: Annotated[
            float, typer.Option(help="False discovery rate of 'supported' (and 'contradicted').")
        ] = DEFAULT_FDR,
        region: Annotated[
            float, typer.Option(help="Radius of the counts tested per candidate, Å.")
        ] = DEFAULT_REGION_A,
        profile: Annotated[
            str,
            typer.Option(
                help="Column profile each candidate is tested against: lattice (the mean "
                "denoised profile of its six nearest candidates, at the site its opposite "
                "neighbours predict; there no selection, normal p-values), neighbours (that "
                "profile at the candidate's own maximum) or own (the denoised profile at the "
                "candidate)."
            ),
        ] = "lattice",
        fdr_classes: Annotated[
            str,
            typer.Option(
                help="surface (FDR within surface and bulk candidates separately) or frame."
            ),
        ] = "surface",
        adaptive: Annotated[
            str,
            typer.Option(
                help="Where q-values come from the adaptive two-stage procedure "
                "(Benjamini-Krieger-Yekutieli): lattice (default; the bulk candidates tested at "
                "lattice sites, an FDR family of their own; Benjamini-Hochberg elsewhere), all, "
                "or none (Benjamini-Hochberg everywhere)."
            ),
        ] = "lattice",
        neighbourhood: Annotated[
            float,
            typer.Option(
                help="Angstrom: each surface candidate's q-value comes from the surface "
                "candidates within this radius (0: one threshold for the whole surface)."
            ),
        ] = SURFACE_NEIGHBOURHOOD_A,
        bootstrap: Annotated[
            bool,
            typer.Option(help="Re-noise and re-denoise to measure how often candidates reappear."),
        ] = False,
        draws: Annotated[int, typer.Option(help="Bootstrap draws.")] = DEFAULT_DRAWS,
        seed: Annotated[int, typer.Option(help="Seed of the null and the bootstrap.")] = 0,
        vacuum_rate: VacuumOption = None,
        radius: RadiusOption = DEFAULT_RADIUS_A,
        real: RealOption = DEFAULT_REAL,
        spurious: SpuriousOption = DEFAULT_SPURIOUS,
        pixel_size: PixelSizeOption = None,
        gain: GainOption = None,
        offset: OffsetOption = None,
        assume_counts: AssumeOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Judge every candidate column of DENOISED against the noisy counts.

        Candidates are all local maxima standing above their surroundings, faint ones included.
        Each gets a p-value against "no column here", calibrated by denoising simulated vacuum
        at the frame's dose with the same method (cached), and a verdict at the chosen false
        discovery rate. One frame at 0.45 e-/px confirms a single surface column at only about
        2 sigma: "not supported" means the counts cannot tell, not that the column is false.
        Writes the figure (PNG) and a CSV of every candidate.
        """
        from sbdenoise.analysis.trust_plot import plot_verdicts

        csv_path = csv or output.with_suffix(".csv")
        try:
            _check_outputs([output, csv_path], [noisy, denoised])
            counts, image, size, _ = _read_pair(
                noisy, denoised, pixel_size, gain, offset, assume_counts
            )
            result = _judge(
                counts,
                image,
                size,
                dict(
                    method=method,
                    params=parse_params(param),
                    model=model,
                    vacuum_rate=vacuum_rate,
                    radius=radius,
                    region=region,
                    profile=profile,
                    classes=fdr_classes,
                    adaptive=adaptive,
                    neighbourhood=neighbourhood,
                    fdr=fdr,
                    verdicts=verdicts,
                    real=real,
                    spurious=spurious,
                    bootstrap=draws if bootstrap else 0,
                    seed=seed,
                    show_progress=not quiet,
                ),
            )
        except (SbdenoiseError, ValueError) as error:
            raise fail(error) from None
        plot_verdicts(result, image, output, noisy=counts, title=f"{noisy.name} → {denoised.name}")
        result.write_csv(csv_path)
        console.print(result.summary(), highlight=False)
        for note in result.notes:
            console.print(f"  {note}", highlight=False)
        console.print(f"Figure: {output}  Candidates: {csv_path}", highlight=False)

    @app.command()
    def report(
        noisy: Annotated[Path, typer.Argument(help="Noisy frame (electron counts).")],
        denoised: Annotated[Path, typer.Argument(help="Denoised frame of the same field.")],
        output_dir: Annotated[Path, typer.Option("--output", "-o", help="Folder for the report.")],
        truth: Annotated[
            Path | None, typer.Option(help="Noise-free frame, for PSNR, SSIM and column scores.")
        ] = None,
        vacuum_rate: VacuumOption = None,
        radius: RadiusOption = DEFAULT_RADIUS_A,
        real: RealOption = DEFAULT_REAL,
        spurious: SpuriousOption = DEFAULT_SPURIOUS,
        pixel_size: PixelSizeOption = None,
        gain: GainOption = None,
        offset: OffsetOption = None,
        assume_counts: AssumeOption = False,
        method: Annotated[
            str, typer.Option(help="The method that made DENOISED (calibrates the verdicts).")
        ] = "sbd",
        param: ParamOption = None,
        model: ModelOption = None,
        verdicts: Annotated[
            str,
            typer.Option(help="calibrated (default), thresholds (the papers'), or none."),
        ] = "calibrated",
        fdr: Annotated[float, typer.Option(help="False discovery rate of 'supported'.")] = (
            DEFAULT_FDR
        ),
        quiet: QuietOption = False,
    ) -> None:
        """One HTML page: noisy and denoised frames, likelihood map, columns, metrics with truth."""
        from sbdenoise.analysis.html_report import build_report

        try:
            inputs = [noisy, denoised] + ([truth] if truth is not None else [])
            if output_dir.resolve() in {p.resolve() for p in inputs}:
                raise OutputError("the report folder is one of the inputs", output_dir)
            counts, image, size, clean = _read_pair(
                noisy, denoised, pixel_size, gain, offset, assume_counts, truth=truth
            )
            trust = None
            if verdicts != "none":
                trust = _judge(
                    counts,
                    image,
                    size,
                    dict(
                        method=method,
                        params=parse_params(param),
                        model=model,
                        vacuum_rate=vacuum_rate,
                        radius=radius,
                        fdr=fdr,
                        verdicts=verdicts,
                        real=real,
                        spurious=spurious,
                        show_progress=not quiet,
                    ),
                )
            result = build_report(
                counts,
                image,
                size,
                output_dir,
                truth=clean,
                name=noisy.name,
                vacuum_rate=vacuum_rate,
                radius=radius,
                real=real,
                spurious=spurious,
                trust=trust,
            )
        except (SbdenoiseError, ValueError) as error:
            raise fail(error) from None
        tally = result.likelihood.counts()
        console.print(
            f"{len(result.likelihood.values)} columns ({int(result.surface.sum())} on the surface):"
            f" {tally['real']} real, {tally['uncertain']} uncertain, {tally['spurious']} spurious.",
            highlight=False,
        )
        if trust is not None:
            console.print(trust.summary(), highlight=False)
        for key, value in result.metrics.items():
            if key.endswith(("precision", "recall", "f1", "jaccard")) or key.startswith(
                ("PSNR", "SSIM")
            ):
                console.print(f"  {key}: {value:.4g}", highlight=False)
        console.print(f"Report: {result.html_path}", highlight=False)

    @app.command()
    def evaluate(
        dataset: Annotated[Path, typer.Argument(help="Dataset folder or its dataset.h5.")],
        output_dir: Annotated[
            Path, typer.Option("--output", "-o", help="Folder for CSVs, plots and summary.")
        ],
        method: MethodOption = "pure-let",
        param: MethodParamOption = None,
        model: Annotated[
            Path | None,
            typer.Option(help="Model file of a network method (default: the shipped model)."),
        ] = None,
        n_noise: Annotated[
            int, typer.Option("--n-noise", "-n", help="Noise realisations per image.")
        ] = 3,
        split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
        max_images: Annotated[
            int | None, typer.Option(help="Use at most this many images.")
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
        dose: Annotated[
            float | None,
            typer.Option(
                help="Score at this vacuum dose, e-/px, instead of each image's own (the "
                "noise-free frames are scaled to it before the noise is drawn)."
            ),
        ] = None,
        alpha: Annotated[float, typer.Option(help="Alpha of the surface alpha shape, Å.")] = 2.5,
        match_distance: Annotated[
            float, typer.Option(help="Largest distance of a matched column pair, Å.")
        ] = 0.5,
        truth_surface: Annotated[
            str, typer.Option(help="True surface from 'alpha' (same rule) or 'store' flags.")
        ] = "alpha",
        element: Annotated[
            list[str] | None,
            typer.Option(
                help="Score only the columns of this element (repeatable), e.g. Pt for the "
                "particle: its true columns and the detected ones nearest to them."
            ),
        ] = None,
        min_contrast: Annotated[
            float | None,
            typer.Option(
                help="Column detector threshold: least peak height above the surroundings as a "
                "fraction of the image median (default 0.15; smoother methods may want less)."
            ),
        ] = None,
        quiet: QuietBarOption = False,
    ) -> None:
        """Score a denoiser on a simulated test set: PSNR, SSIM, surface and bulk column metrics.

        --method clean scores the noise-free frames themselves: the column detector's ceiling.
        """
        from sbdenoise.analysis.evaluation import evaluate as run_evaluation

        try:
            result = run_evaluation(
                dataset,
                method,
                n_realisations=n_noise,
                split=split,
                max_images=max_images,
                params=parse_params(param),
                model=model,
                seed=seed,
                dose=dose,
                alpha=alpha,
                max_distance=match_distance,
                truth_surface=truth_surface,
                elements=element or None,
                detection=None if min_contrast is None else {"min_contrast": min_contrast},
                output_dir=output_dir,  # type: ignore[arg-type]
                show_progress=not quiet,
            )
        except (SbdenoiseError, ValueError) as error:
            raise fail(error) from None
        mean = result.summary["mean"]
        table = Table("columns", "precision", "recall", "F1", "Jaccard")
        for part in ("surface", "bulk", "all"):
            table.add_row(
                part,
                *(f"{mean[f'{part}_{m}']:.3f}" for m in ("precision", "recall", "f1", "jaccard")),
            )
        console.print(table)
        console.print(
            f"{method}: PSNR {mean['psnr']:.2f} dB (noisy {mean['psnr_noisy']:.2f} dB), "
            f"SSIM {mean['ssim']:.3f}; likelihood ROC AUC real vs spurious "
            f"{result.validation.auc:.3f} ({result.validation.real.size} real, "
            f"{result.validation.spurious.size} spurious columns).",
            highlight=False,
        )
        for key, path in result.paths.items():
            console.print(f"  {key}: {path}", highlight=False)

    @app.command("surface-null")
    def surface_null(
        dataset: Annotated[
            Path, typer.Argument(help="Simulated dataset (folder or dataset.h5) with column truth.")
        ],
        method: MethodOption = "sbd",
        param: MethodParamOption = None,
        model: Annotated[
            Path | None,
            typer.Option(help="Model file of a network method (default: the shipped model)."),
        ] = None,
        output: Annotated[
            Path | None,
            typer.Option(
                "--output",
                "-o",
                help="Table file (default: MODEL.surface-null.json beside the model, "
                "MODEL.ensemble-N.surface-null.json with -p ensemble=N, where 'likelihood' "
                "finds it).",
            ),
        ] = None,
        split: Annotated[str, typer.Option(help="Dataset split of the images.")] = "test",
        contrast: Annotated[
            str, typer.Option(help="Contrast class of the images ('all': every class).")
        ] = "white",
        max_images: Annotated[
            int | None, typer.Option(help="Use at most this many images, evenly spread.")
        ] = 36,
        exclude: Annotated[
            str | None,
            typer.Option(help="Image indices to leave out, comma separated (held-out checks)."),
        ] = None,
        doses: Annotated[
            str, typer.Option(help="Doses of the table, e-/Å², comma separated.")
        ] = ",".join(f"{d:g}" for d in (40, 71, 121, 225, 400)),
        draws: Annotated[int, typer.Option(help="Poisson draws per image and dose.")] = 1,
        seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
        quiet: QuietBarOption = False,
    ) -> None:
        """Simulate the null of spurious surface candidates, so surface verdicts are calibrated.

        Without it a candidate facing the vacuum is tested against vacuum alone, which a lattice
        continued one layer into the vacuum passes. Costs about 2 s per frame (images x doses x
        draws) on 2 cores.
        """
        from sbdenoise.analysis.surface_calibration import calibrate_surface_null

        try:
            chosen_doses = [float(d) for d in doses.split(",") if d.strip()]
            left_out = [int(i) for i in exclude.split(",") if i.strip()] if exclude else []
        except ValueError as error:
            raise fail(
                InputError(f"--doses and --exclude take comma-separated numbers: {error}")
            ) from None
        try:
            table, path = calibrate_surface_null(
                dataset,
                method,
                parse_params(param),
                model=model,
                split=split,
                contrast=contrast,
                max_images=max_images,
                exclude=left_out,
                doses=chosen_doses,
                draws=draws,
                seed=seed,
                output=output,
                show_progress=not quiet,
            )
        except (SbdenoiseError, ValueError) as error:
            raise fail(error) from None
        rows = Table("dose e-/Å²", "frames", "spurious surface candidates", "per frame", "median p")
        for level in table.levels:
            median = f"{np.median(level.p_values):.3f}" if len(level.p_values) else "-"
            rows.add_row(
                f"{level.dose_per_area:g}", str(level.frames), str(len(level.p_values)),
                f"{level.per_frame:.1f}", median,
            )  # fmt: skip
        console.print(rows)
        console.print(f"surface null: {path}", highlight=False)

    @app.command()
    def explain(
        model: Annotated[Path, typer.Argument(help="Model file (safetensors weights + card).")],
        noisy: Annotated[Path, typer.Argument(help="Noisy frame (electron counts).")],
        pixel: Annotated[str, typer.Option(help="Output pixel ROW,COL (for example 120,64).")],
        output: Annotated[Path, typer.Option("--output", "-o", help="PNG of the filter.")],
        window: Annotated[
            float | None,
            typer.Option(
                help="Half-width of the window shown, in Å (default: 1.5 x the filter's reach)."
            ),
        ] = None,
        pixel_size: PixelSizeOption = None,
        gain: GainOption = None,
        offset: OffsetOption = None,
        assume_counts: AssumeOption = False,
        ensemble: Annotated[
            int | None,
            typer.Option(
                help="Geometric self-ensemble the filter is taken through (1, 2, 4 or 8), as "
                "the sbd method's -p ensemble=N; the default is the method's."
            ),
        ] = None,
    ) -> None:
        """Equivalent linear filter of a network at one pixel, as the sbd method applies it.

        The frame goes through the sbd path (counts check, binning to the model's working grid,
        dose normalisation, padding, self-ensemble), so the filter is the one behind ``denoise
        --method sbd``.
        """
        from sbdenoise.analysis.pixel_filter import pixel_filter, plot_pixel_filter
        from sbdenoise.nn.model_file import load_model

        row_col = _parse_pixel(pixel)
        try:
            _check_outputs([output], [model, noisy])
            frame = _read_frame(noisy, "noisy input")
            counts = _counts(frame, gain, offset, assume_counts)
            size = _pixel_size(pixel_size, frame)
            module, card = load_model(model)
            probe = (
                pixel_filter(module, card, counts, size, row_col)
                if ensemble is None
                else pixel_filter(module, card, counts, size, row_col, ensemble)
            )
        except (SbdenoiseError, ValueError) as error:
            raise fail(error) from None
        plot_pixel_filter(
            probe,
            output,
            half_width=window,
            title=f"{model.name} on {noisy.name}, pixel ({row_col[0]}, {row_col[1]})",
        )
        console.print(f"{probe.describe()}. Figure: {output}", highlight=False)
