"""The series workflow on simulated in-situ movies: accuracy over seeds, and throughput.

Accuracy: drifting 40-frame abTEM movies of the demo's Pt/CeO2 particle at 0.45 e-/px, one
surface column leaving at frame 20 (``moving``), and the same without the event (``static``),
each over several noise seeds. Reported per seed: drift error (rms, angstrom), whether the
leaving column is found as a "real" event within 1 frame and 1 A, false "real" events, the
evidence of the true event (z), and the profile agreement of the denoised average with the
temporal average (r, and the ceiling a perfect denoiser reaches against that noisy reference).

Throughput: frames per second of the series' stages on 1024 x 1024 frames (this machine, shipped
model), with the camera's 40 frames/s as the reference.

    .venv/bin/python benchmarks/series.py               # 4 + 4 seeds, ~15 min on 2 cores
    .venv/bin/python benchmarks/series.py --seeds 1 --no-throughput   # a quick look
    .venv/bin/python benchmarks/series.py --sum 2 --no-throughput \
        --output benchmarks/results/series_sum2              # sums of two frames

With ``--sum N`` the pipeline analyses sums of N recorded frames (``run_series(...,
frames_per_sum=N)``): the drift is compared with the true drift at the middle of each sum, the
event counts as found when its interval covers a sum holding the change, and the interval's width
is reported in recorded frames.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from sbdenoise.denoise.registry import prepare
from sbdenoise.series import run_series, simulated_series
from sbdenoise.series.drift import common_window, estimate_drift

RESULTS = Path(__file__).parent / "results"


def _machine() -> str:
    import os

    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )


def accuracy(seeds: int, frames: int, size: int, verdicts: str, per_sum: int = 1) -> list[dict]:
    """Run the pipeline on moving and static movies over ``seeds`` noise seeds."""
    rows = []
    for kind, event in (("moving", frames // 2), ("static", None)):
        for seed in range(seeds):
            truth = simulated_series(
                n_frames=frames, size=size, event_frame=event, source="pt-ceo2", seed=100 + seed
            )
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                result = run_series(
                    truth.frames,
                    Path(folder) / "run",
                    pixel_size=truth.pixel_size,
                    verdicts=verdicts,
                    frames_per_sum=per_sum,
                    report=False,
                    show_progress=False,
                )
                seconds = time.perf_counter() - start
            used = truth.drift[: result.n_frames * per_sum].reshape(-1, per_sum, 2).mean(axis=1)
            error = result.drift - (used - used[0])
            # the sums that hold the change: the one with its first frame gone, or the next one
            changed = set() if event is None else {event // per_sum, -(-event // per_sum)}
            found, true_z, false_real, width = False, float("nan"), 0, float("nan")
            for e in result.real_events:
                hit = (
                    event is not None
                    and e.kind == "leaves"
                    and any(e.covers(k) for k in changed)
                    and np.hypot(*(np.asarray(e.position) - truth.event_position)) < 1.0
                )
                found |= hit
                false_real += not hit
                if hit:
                    width = float((e.frames[1] - e.frames[0] + 1) * per_sum)
            if event is not None:
                origin = result.window.origin_a(truth.pixel_size)
                d = np.hypot(*(result.evidence.positions + origin - truth.event_position).T)
                if d.size and d.min() < 1.0:
                    i = int(np.argmin(d))
                    true_z = float(result.evidence.z[i])
            rows.append(
                {
                    "series": kind,
                    "seed": 100 + seed,
                    "drift_rms_A": float(np.sqrt(np.mean(np.sum(error**2, axis=1)))),
                    "event_found": found if event is not None else None,
                    "event_z": true_z,
                    "false_real_events": false_real,
                    "profile_r": result.profiles.r_profile,
                    "profile_r_ceiling": result.profiles.r_ceiling,
                    "sites": len(result.evidence.positions),
                    "event_interval_frames": width,
                    "supported_per_frame": _supported_per_frame(result),
                    "seconds": seconds,
                }
            )
            print(rows[-1], flush=True)
    return rows


def _supported_per_frame(result) -> float:
    """Mean number of candidates a frame's counts support ("supported", or "real" by thresholds)."""
    names = result.verdict_names
    name = "supported" if "supported" in names else "real"
    return float(np.mean(result.verdict_counts[:, names.index(name)]))


def throughput(frames: int, size: int) -> dict:
    """Seconds per frame of the series' stages on ``size`` x ``size`` frames."""
    rng = np.random.default_rng(0)
    truth = simulated_series(n_frames=2, size=512, event_frame=None, source="pt-ceo2", seed=0)
    tile = np.tile(truth.expectation[0], (size // 512 + 1, size // 512 + 1))[:size, :size]
    stack = rng.poisson(np.broadcast_to(tile, (frames, size, size))).astype(np.uint16)
    pixel = truth.pixel_size
    prepared = prepare("sbd", {})
    prepared.denoise_frame(stack[0], pixel)  # warm up
    start = time.perf_counter()
    denoised = np.stack([prepared.denoise_frame(frame, pixel) for frame in stack])
    denoise_s = (time.perf_counter() - start) / frames
    start = time.perf_counter()
    drift = estimate_drift(lambda t: denoised[t], frames, pixel)
    drift_s = (time.perf_counter() - start) / frames
    window = common_window(drift, pixel, (size, size))
    start = time.perf_counter()
    total = np.zeros(window.shape)
    for t in range(frames):
        total += window.counts(stack[t], t)
    align_s = (time.perf_counter() - start) / frames
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_series(
            stack,
            Path(folder) / "run",
            pixel_size=pixel,
            verdicts="thresholds",
            report=False,
            show_progress=False,
        )
        pipeline_s = (time.perf_counter() - start) / frames
    return {
        "frames": frames,
        "size_px": size,
        "denoise_s_per_frame": denoise_s,
        "drift_s_per_frame": drift_s,
        "align_and_sum_s_per_frame": align_s,
        "whole_series_s_per_frame": pipeline_s,
        "denoise_frames_per_s": 1.0 / denoise_s,
        "whole_series_frames_per_s": 1.0 / pipeline_s,
        "camera_frames_per_s": 40.0,
    }


def _markdown(result: dict) -> str:
    lines = [
        "# Series workflow on simulated in-situ movies",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}` "
        f"({result['wall_minutes']:.1f} min).",
        "",
        f"{result['frames']}-frame abTEM movies ({result['size']} px, 0.061 Å/px, 0.45 e⁻/px per "
        "frame, drift about 1.1 Å over the movie); moving: one surface column leaves at frame "
        f"{result['frames'] // 2}; static: no event. Per-frame verdicts: {result['verdicts']}. "
        + (
            f"Frames per sum: {result['frames_per_sum']} (each analysed frame the sum of that many "
            "recorded ones; the interval in recorded frames)."
            if result.get("frames_per_sum", 1) > 1
            else "Every frame analysed as recorded."
        ),
        "",
        "| series | seed | drift rms (Å) | event found (real, interval covers it) | z of the true "
        "event | interval (recorded frames) | false real events | supported candidates per "
        "frame | profile r | r ceiling | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["accuracy"]:
        found = "–" if r["event_found"] is None else ("yes" if r["event_found"] else "no")
        lines.append(
            f"| {r['series']} | {r['seed']} | {r['drift_rms_A']:.3f} | {found} | "
            f"{r['event_z']:.2f} | {r.get('event_interval_frames', float('nan')):.0f} | "
            f"{r['false_real_events']} | {r.get('supported_per_frame', float('nan')):.1f} | "
            f"{r['profile_r']:.3f} | {r['profile_r_ceiling']:.3f} | {r['seconds']:.0f} |"
        )
    summary = result["summary"]
    lines += [
        "",
        f"Found {summary['found']} of {summary['moving']} events; false real events "
        f"{summary['false_real_moving']} on moving and {summary['false_real_static']} on static "
        f"movies; drift rms at most {summary['drift_rms_max_A']:.3f} Å; profile r "
        f"{summary['profile_r_min']:.3f}-{summary['profile_r_max']:.3f}"
        + (
            f"; candidates supported per analysed frame {summary['supported_per_frame_mean']:.1f}."
            if "supported_per_frame_mean" in summary
            else "."
        ),
    ]
    if result.get("throughput"):
        t = result["throughput"]
        lines += [
            "",
            f"## Throughput ({t['frames']} frames of {t['size_px']} x {t['size_px']} px)",
            "",
            "| stage | s per frame | frames/s | vs camera (40 frames/s) |",
            "|---|---|---|---|",
        ]
        for name, key in (
            ("denoise (sbd, shipped model)", "denoise_s_per_frame"),
            ("drift (two passes)", "drift_s_per_frame"),
            ("align and sum counts", "align_and_sum_s_per_frame"),
            ("whole series (thresholds, no report)", "whole_series_s_per_frame"),
        ):
            value = t[key]
            lines.append(f"| {name} | {value:.3f} | {1 / value:.1f} | {1 / value / 40:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--verdicts", default="thresholds", choices=["thresholds", "calibrated"])
    parser.add_argument("--sum", type=int, default=1, help="recorded frames per analysed frame")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--throughput-frames", type=int, default=32)
    parser.add_argument("--output", type=Path, default=RESULTS / "series")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = accuracy(args.seeds, args.frames, args.size, args.verdicts, args.sum)
    moving = [r for r in rows if r["series"] == "moving"]
    static = [r for r in rows if r["series"] == "static"]
    result = {
        "machine": _machine(),
        "command": "python benchmarks/series.py "
        + f"--seeds {args.seeds} --frames {args.frames} --size {args.size}"
        + (f" --sum {args.sum}" if args.sum > 1 else "")
        + (" --no-throughput" if args.no_throughput else "")
        + (f" --output {args.output}" if args.output != RESULTS / "series" else ""),
        "frames_per_sum": args.sum,
        "frames": args.frames,
        "size": args.size,
        "verdicts": args.verdicts,
        "accuracy": rows,
        "summary": {
            "moving": len(moving),
            "found": sum(bool(r["event_found"]) for r in moving),
            "false_real_moving": sum(r["false_real_events"] for r in moving),
            "false_real_static": sum(r["false_real_events"] for r in static),
            "drift_rms_max_A": max(r["drift_rms_A"] for r in rows),
            "profile_r_min": min(r["profile_r"] for r in rows),
            "profile_r_max": max(r["profile_r"] for r in rows),
            "supported_per_frame_mean": float(np.mean([r["supported_per_frame"] for r in rows])),
        },
        "throughput": None if args.no_throughput else throughput(args.throughput_frames, 1024),
    }
    result["wall_minutes"] = (time.perf_counter() - start) / 60
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
    args.output.with_suffix(".md").write_text(_markdown(result))
    print(_markdown(result))


if __name__ == "__main__":
    main()
