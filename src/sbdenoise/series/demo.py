"""The series part of the demo: a simulated drifting movie analysed as a user would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sbdenoise.io import Micrograph, write_image
from sbdenoise.series.pipeline import SeriesResult, run_series
from sbdenoise.series.simulated import SimulatedSeries, simulated_series


@dataclass
class SeriesDemo:
    """The demo's series, its analysis and how close the analysis came to the truth.

    Attributes
    ----------
    movie_path : Path
        The simulated movie as a user would have it (TIFF stack, counts, pixel size in it).
    truth : SimulatedSeries
        What was simulated.
    result : SeriesResult
        What ``run_series`` found.
    drift_error_rms : float
        RMS distance between found and true drift, angstrom.
    event_found : bool
        A "leaves" event with a real verdict within 1 frame and 1 A of the true one.
    false_events : int
        Events with a real verdict that match no simulated change (false discoveries).
    """

    movie_path: Path
    truth: SimulatedSeries
    result: SeriesResult
    drift_error_rms: float
    event_found: bool
    false_events: int = 0


def run_series_demo(
    output_dir: str | Path = "demo_output/series",
    *,
    n_frames: int = 40,
    size: int = 512,
    method: str = "sbd",
    source: str = "pt-ceo2",
    seed: int = 0,
    show_progress: bool = True,
) -> SeriesDemo:
    """Simulate a drifting 40-frame movie in which one surface column leaves, and analyse it.

    Parameters
    ----------
    output_dir : str or Path
        Folder for ``movie.tif``, ``truth.json`` and the series analysis (``report.html``).
    n_frames : int
        Frames (the column leaves halfway).
    size : int
        Frame side, px.
    method : str
        Denoising method.
    source : str
        ``"pt-ceo2"`` (abTEM, about a minute) or ``"lattice"``.
    seed : int
        Seed of the shot noise.
    show_progress : bool
        Progress bars.

    Returns
    -------
    SeriesDemo
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth = simulated_series(
        n_frames=n_frames, size=size, event_frame=n_frames // 2, source=source, seed=seed
    )
    movie = write_image(
        Micrograph(truth.frames, pixel_size=truth.pixel_size, units_found="Å"),
        out / "movie.tif",
    )
    (out / "truth.json").write_text(
        json.dumps(
            {
                "description": truth.description,
                "pixel_size_A": truth.pixel_size,
                "drift_A": truth.drift.tolist(),
                "event": {
                    "kind": "leaves",
                    "frame": truth.event_frame,
                    "position_A": np.asarray(truth.event_position).tolist(),
                },
            },
            indent=1,
        )
    )
    result = run_series(movie, out / "analysis", method=method, show_progress=show_progress)
    error = result.drift - truth.drift
    rms = float(np.sqrt(np.mean(np.sum(error**2, axis=1))))
    hits = [
        e.kind == "leaves"
        and e.covers(int(truth.event_frame or 0))
        and np.hypot(*(np.asarray(e.position) - truth.event_position)) < 1.0
        for e in result.real_events
    ]
    return SeriesDemo(movie, truth, result, rms, any(hits), hits.count(False))
