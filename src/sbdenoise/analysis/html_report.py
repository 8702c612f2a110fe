"""One HTML page for one input: noisy and denoised frames, likelihood map, columns and metrics.

The page and its PNGs and CSV go into one folder; the page links them by relative paths, so the
folder can be moved, zipped or put on a web server as it is.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise import __version__
from sbdenoise.analysis.columns import (
    DEFAULT_MATCH_DISTANCE_A,
    _check_image,
    _check_pixel_size,
    check_positions,
    detect_columns,
    inside_frame,
    match_columns,
    write_csv,
)
from sbdenoise.analysis.likelihood import (
    DEFAULT_RADIUS_A,
    DEFAULT_REAL,
    DEFAULT_SPURIOUS,
    ColumnLikelihood,
    add_colorbar,
    add_scale_bar,
    column_likelihood,
    grey_limits,
    image_panels,
    plot_likelihood,
    save_figure,
)
from sbdenoise.analysis.structure_metrics import StructureScores, structure_scores
from sbdenoise.analysis.surface import DEFAULT_ALPHA_A, alpha_shape
from sbdenoise.analysis.trust import FrameVerdicts
from sbdenoise.analysis.trust_plot import plot_verdicts
from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.metrics import psnr, ssim

#: Most column rows shown in the page (all are in the CSV).
MAX_TABLE_ROWS = 400


@dataclass
class Report:
    """What :func:`build_report` wrote and found.

    Attributes
    ----------
    html_path : Path
        The page.
    files : dict
        Every file written, by role (``noisy_png``, ``denoised_png``, ``likelihood_png``,
        ``columns_csv`` and, with truth, ``truth_png``).
    likelihood : ColumnLikelihood
        Likelihood values of the detected columns.
    surface : numpy.ndarray
        Boolean per detected column: True for surface columns.
    metrics : dict
        PSNR and SSIM (with a truth image) and the column scores (with any truth).
    scores : StructureScores or None
        Column scores against the truth, when given.
    """

    html_path: Path
    files: dict[str, Path]
    likelihood: ColumnLikelihood
    surface: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    scores: StructureScores | None = None


def _image_png(
    image: np.ndarray, path: Path, title: str, pixel_size: float, label: str = "e⁻/px"
) -> Path:
    fig, (ax,) = image_panels(1, 5.6, 5.0)
    lo, hi = grey_limits(image)
    shown = ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
    add_colorbar(fig, ax, shown, label)
    ax.set_title(title)
    add_scale_bar(ax, image.shape, pixel_size)
    return save_figure(fig, path)


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "–" if not np.isfinite(value) else f"{value:.4g}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
img { max-width: 100%; border: 1px solid #ddd; }
.row { display: flex; gap: 1em; flex-wrap: wrap; } .row img { max-width: 48%; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.real { color: #2166ac; } .spurious { color: #b2182b; } .uncertain { color: #b07800; }
.note { color: #555; font-size: 0.9em; }
"""


def build_report(
    noisy: np.ndarray,
    denoised: np.ndarray,
    pixel_size: float,
    output_dir: str | Path,
    *,
    truth: np.ndarray | None = None,
    truth_columns: np.ndarray | None = None,
    name: str = "",
    vacuum_rate: float | None = None,
    radius: float = DEFAULT_RADIUS_A,
    real: float = DEFAULT_REAL,
    spurious: float = DEFAULT_SPURIOUS,
    alpha: float = DEFAULT_ALPHA_A,
    max_distance: float = DEFAULT_MATCH_DISTANCE_A,
    detection: Mapping[str, Any] | None = None,
    trust: FrameVerdicts | None = None,
) -> Report:
    """Write ``index.html`` with the frames, the likelihood map, the column table and metrics.

    Parameters
    ----------
    noisy : numpy.ndarray
        Noisy frame, electron counts per pixel.
    denoised : numpy.ndarray
        Denoised frame, e-/px.
    pixel_size : float
        Angstrom per pixel.
    output_dir : str or Path
        Folder for the page, PNGs and CSV (created).
    truth : numpy.ndarray, optional
        Noise-free frame: adds PSNR, SSIM and (without ``truth_columns``) column scores against
        columns detected in it.
    truth_columns : numpy.ndarray, optional
        True column positions ``(n, 2)``, ``(y, x)`` in angstrom.
    name : str
        Name of the input, for the title.
    vacuum_rate : float, optional
        Vacuum rate (e-/px); estimated from the frames by default.
    radius, real, spurious : float
        Likelihood region radius (angstrom) and verdict thresholds (nats/px).
    alpha : float
        Alpha of the surface alpha shape, angstrom.
    max_distance : float
        Matching distance to true columns, angstrom.
    detection : mapping, optional
        Keyword arguments of :func:`sbdenoise.analysis.columns.detect_columns`.
    trust : FrameVerdicts, optional
        Verdicts on every candidate (:func:`sbdenoise.analysis.trust.judge_frame` on the same
        frames): adds their figure, table (``candidates.csv``) and section.

    Returns
    -------
    Report
    """
    counts = _check_image(noisy, "noisy frame")
    image = _check_image(denoised, "denoised image")
    pixel_size = _check_pixel_size(pixel_size)
    if counts.shape != image.shape:
        raise InputError(f"noisy {counts.shape} and denoised {image.shape} frames differ in shape")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    detect_kwargs = dict(detection or {})
    border = float(detect_kwargs.get("border", 0.5))

    found = detect_columns(image, pixel_size, **detect_kwargs)
    likelihood = column_likelihood(
        counts,
        image,
        found.positions,
        pixel_size,
        vacuum_rate,
        radius=radius,
        real=real,
        spurious=spurious,
    )
    surface = alpha_shape(found.positions, alpha, shape=image.shape, pixel_size=pixel_size).surface
    files: dict[str, Path] = {}
    title = name or "input"
    files["noisy_png"] = _image_png(counts, out / "noisy.png", f"noisy: {title}", pixel_size)
    files["denoised_png"] = _image_png(image, out / "denoised.png", "denoised", pixel_size)
    files["likelihood_png"] = plot_likelihood(likelihood, image, out / "likelihood.png")

    metrics: dict[str, Any] = {}
    scores = None
    matched = None
    if truth is not None:
        clean = _check_image(truth, "truth image")
        if clean.shape != image.shape:
            raise InputError(f"truth {clean.shape} and denoised {image.shape} differ in shape")
        files["truth_png"] = _image_png(clean, out / "truth.png", "truth (noise-free)", pixel_size)
        metrics["PSNR noisy (dB, unclipped)"] = float(psnr(counts, clean, clip=False))
        metrics["PSNR denoised (dB)"] = float(psnr(image, clean))
        metrics["SSIM denoised"] = ssim(image, clean)
        if truth_columns is None:
            truth_columns = detect_columns(clean, pixel_size, **detect_kwargs).positions
    if truth_columns is not None:
        true_positions = check_positions(truth_columns, "true columns")
        true_positions = true_positions[
            inside_frame(true_positions, image.shape, pixel_size, border)
        ]
        scores = structure_scores(
            found.positions,
            true_positions,
            alpha,
            max_distance=max_distance,
            shape=image.shape,
            pixel_size=pixel_size,
        )
        matched = match_columns(found.positions, true_positions, max_distance).detected_is_matched

    rows = likelihood.rows()
    for k, row in enumerate(rows):
        row["surface"] = bool(surface[k])
        if matched is not None:
            row["matched_to_truth"] = bool(matched[k])
    fields = [*rows[0].keys()] if rows else ["column", "y_A", "x_A", "value", "verdict"]
    files["columns_csv"] = write_csv(out / "columns.csv", rows, fields)

    trust_html = ""
    if trust is not None:
        files["verdicts_png"] = plot_verdicts(trust, image, out / "verdicts.png", noisy=counts)
        files["candidates_csv"] = trust.write_csv(out / "candidates.csv")
        trust_html = _trust_section(trust, files)
    html_path = out / "index.html"
    page = _render_page(
        title, image.shape, pixel_size, likelihood, surface, rows, files, metrics, scores, alpha
    ).replace(_TRUST_MARK, trust_html)
    atomic_write_text(html_path, page)
    if scores is not None:
        metrics.update({f"{k}": v for k, v in scores.as_dict().items() if not k.startswith("all_")})
    return Report(html_path, files, likelihood, surface, metrics, scores)


_TRUST_MARK = "<!-- verdicts -->"


def _trust_section(trust: FrameVerdicts, files: Mapping[str, Path]) -> str:
    """HTML of the verdicts on every candidate: figure, tally, what a verdict means."""
    tally = trust.counts()
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in trust.notes)
    return "\n".join(
        [
            "<h2>Verdicts on every candidate</h2>",
            f"<p>{html.escape(trust.summary())}.</p>",
            "<p class='note'>Every local maximum of the denoised frame standing above its "
            "surroundings is a candidate, faint ones included. <b>supported</b>: the counts "
            "reject vacuum at the stated false discovery rate (p-values calibrated by denoising "
            "simulated vacuum with the same method at this dose); <b>contradicted</b>: the "
            "counts favour vacuum and are too few for the column drawn; <b>not supported</b>: "
            "this one frame cannot tell. At 0.45 e⁻/px one frame confirms a single surface "
            "column at only about 2 sigma even for an ideal test, so many real columns are "
            "'not supported'; the frames of a series add up.</p>",
            f"<ul class='note'>{notes}</ul>" if notes else "",
            f"<img src='{files['verdicts_png'].name}' alt='verdicts'>",
            html_table(["verdict", "candidates"], [[k, v] for k, v in reversed(tally.items())]),
            f"<p class='note'>Every candidate with its p- and q-values: "
            f"<a href='{files['candidates_csv'].name}'>{files['candidates_csv'].name}</a>.</p>",
        ]
    )


def _render_page(
    title: str,
    shape: tuple[int, ...],
    pixel_size: float,
    likelihood: ColumnLikelihood,
    surface: np.ndarray,
    rows: list[dict[str, Any]],
    files: Mapping[str, Path],
    metrics: Mapping[str, Any],
    scores: StructureScores | None,
    alpha: float,
) -> str:
    tally = likelihood.counts()
    vac = likelihood.vacuum
    vac_text = (
        f"{vac.rate:.4g} e⁻/px ({vac.source}"
        + (f", region of {vac.area / 100:.3g} nm²" if vac.area else "")
        + ")"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>sbdenoise report: {html.escape(title)}</title>",
        f"<style>{PAGE_STYLE}</style></head><body>",
        f"<h1>sbdenoise report: {html.escape(title)}</h1>",
        f"<p class='note'>Frame {shape[0]} x {shape[1]} px at {pixel_size:.5g} Å/px "
        f"({shape[1] * pixel_size / 10:.3g} x {shape[0] * pixel_size / 10:.3g} nm). "
        f"sbdenoise {html.escape(__version__)}, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>",
        "<h2>Frames</h2><div class='row'>",
        f"<img src='{files['noisy_png'].name}' alt='noisy frame'>",
        f"<img src='{files['denoised_png'].name}' alt='denoised frame'>",
    ]
    if "truth_png" in files:
        parts.append(f"<img src='{files['truth_png'].name}' alt='noise-free frame'>")
    parts += [
        "</div><h2>Likelihood map</h2>",
        "<p>For each detected column, the mean over a disc of radius "
        f"{likelihood.radius:g} Å of the Poisson log-likelihood of the noisy counts under the "
        "denoised column rate minus that under the vacuum rate (nats per pixel). "
        f"Vacuum rate: {html.escape(vac_text)}. Verdicts: "
        f"<span class='real'>real</span> ≥ {likelihood.real_threshold:g}, "
        f"<span class='spurious'>spurious</span> ≤ {likelihood.spurious_threshold:g}.</p>",
        f"<img src='{files['likelihood_png'].name}' alt='likelihood map'>",
        html_table(
            ["verdict", "columns"],
            [[k, tally[k]] for k in ("real", "uncertain", "spurious")]
            + [["surface (alpha " + f"{alpha:g} Å)", int(surface.sum())], ["all", len(rows)]],
        ),
    ]
    parts.append(_TRUST_MARK)
    if metrics or scores is not None:
        parts.append("<h2>Against the truth</h2>")
        if metrics:
            parts.append(
                html_table(["metric", "value"], [[k, float(v)] for k, v in metrics.items()])
            )
        if scores is not None:
            table_rows = []
            for part in ("surface", "bulk", "all"):
                s = getattr(scores, part)
                table_rows.append(
                    [
                        part,
                        s.precision,
                        s.recall,
                        s.f1,
                        s.jaccard,
                        s.true_positives,
                        s.false_positives,
                        s.false_negatives,
                    ]
                )
            parts.append(
                html_table(
                    [
                        "columns",
                        "precision",
                        "recall",
                        "F1",
                        "Jaccard",
                        "matched",
                        "spurious",
                        "missing",
                    ],
                    table_rows,
                )
            )
    parts.append(
        f"<h2>Columns</h2><p class='note'>All {len(rows)} columns are in "
        f"<a href='{files['columns_csv'].name}'>{files['columns_csv'].name}</a>"
        + (f"; the first {MAX_TABLE_ROWS} are shown." if len(rows) > MAX_TABLE_ROWS else ".")
        + " Positions in Å from the top-left pixel centre.</p>"
    )
    header = ["#", "y (Å)", "x (Å)", "value (nats/px)", "verdict", "column rate (e⁻/px)", "surface"]
    if rows and "matched_to_truth" in rows[0]:
        header.append("matched to truth")
    body = []
    for row in rows[:MAX_TABLE_ROWS]:
        line = [
            row["column"],
            row["y_A"],
            row["x_A"],
            row["value"],
            row["verdict"],
            row["column_rate"],
            "yes" if row["surface"] else "",
        ]
        if "matched_to_truth" in row:
            line.append("yes" if row["matched_to_truth"] else "no")
        body.append(line)
    parts.append(html_table(header, body))
    parts.append("</body></html>\n")
    return "\n".join(parts)
