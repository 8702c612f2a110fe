"""Network inference: bf16 against fp32 arithmetic, and the throughput of a long stack.

Quality: static abTEM movies of the demo's Pt/CeO2 particle (``simulated_series`` with the
``pt-ceo2`` source, no drift, no event) at 0.15, 0.45 and 1.5 e-/px, several noise frames each,
denoised by the shipped model in fp32 and in bf16 (autocast + channels_last). Reported: PSNR of
each against the expectation (peak 1 e-/px, unclipped), and the PSNR of the bf16 output against
the fp32 one (how far the arithmetic moves the estimate, to compare with how far the estimate is
from the truth).

Throughput: a ``(frames, 1024, 1024)`` uint16 stack of Poisson frames at 0.45 e-/px (the quality
frame tiled) in a memory-mapped ``.npy`` on disk, denoised with the registry's ``sbd`` method
frame by frame into a memory-mapped float32 ``.npy`` (what ``sbdenoise series`` does), per
precision: frames per second end to end and anonymous resident memory after the run
(memory-mapped pages not counted); plus the time of each stage on a few frames (read, bin to
the working grid, network, back to the input grid, write). The camera's 40 frames/s is the
reference.

    .venv/bin/python benchmarks/inference.py                      # 1000 bf16 + 200 fp32 frames
    .venv/bin/python benchmarks/inference.py --frames 50 --quality-frames 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sbdenoise.denoise.inference import MEMORY_FORMAT, denoise_array
from sbdenoise.denoise.registry import prepare
from sbdenoise.metrics import psnr
from sbdenoise.nn.folding import fold_batch_norms
from sbdenoise.nn.model_file import load_model
from sbdenoise.nn.sampling import from_working_grid, to_working_grid
from sbdenoise.pretrained import shipped_model_path
from sbdenoise.series import simulated_series
from sbdenoise.training.precision import autocast, cpu_has_bf16

RESULTS = Path(__file__).parent / "results"
DOSES = (0.15, 0.45, 1.5)
PRECISIONS = ("fp32", "bf16")
CAMERA_FPS = 40.0


def _machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"bf16 in hardware: {cpu_has_bf16()}"
    )


def _clean_frame(size: int) -> tuple[np.ndarray, float]:
    """Expected counts at 1 e-/px of the demo particle (abTEM, ``size`` px), and the pixel size."""
    movie = simulated_series(
        n_frames=2, size=size, dose=1.0, drift_a=(0.0, 0.0), event_frame=None, source="pt-ceo2"
    )
    return movie.expectation[0].astype(np.float64), movie.pixel_size


def quality(clean: np.ndarray, pixel_size: float, frames: int) -> list[dict]:
    """PSNR of fp32 and bf16 estimates against the truth and against each other."""
    model, card = load_model(shipped_model_path())
    rng = np.random.default_rng(7)
    rows = []
    for dose in DOSES:
        truth = clean * dose
        scores: dict[str, list[float]] = {"fp32": [], "bf16": [], "bf16_vs_fp32": []}
        for _ in range(frames):
            noisy = rng.poisson(truth).astype(np.uint16)
            out = {
                p: denoise_array(model, card, noisy, pixel_size, precision=p) for p in PRECISIONS
            }
            # peak 1 e-/px as everywhere in this project; unclipped, since 1.5 e-/px frames exceed 1
            scores["fp32"].append(psnr(out["fp32"], truth, clip=False))
            scores["bf16"].append(psnr(out["bf16"], truth, clip=False))
            scores["bf16_vs_fp32"].append(psnr(out["bf16"], out["fp32"], clip=False))
        rows.append(
            {
                "dose_e_per_px": dose,
                "frames": frames,
                **{f"psnr_{k}_db": float(np.mean(v)) for k, v in scores.items()},
            }
        )
        print(rows[-1], flush=True)
    return rows


def _anonymous_rss_mib() -> float:
    """Resident memory not backed by files, MiB (memory-mapped stack pages are not counted)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _write_stack(path: Path, clean: np.ndarray, frames: int, size: int, dose: float) -> np.ndarray:
    """A memory-mapped ``(frames, size, size)`` uint16 stack of Poisson frames on disk.

    ``clean`` (expected counts at 1 e-/px) is tiled to ``size`` (speed does not depend on content).
    """
    reps = -(-size // clean.shape[0]), -(-size // clean.shape[1])
    expectation = dose * np.tile(clean, reps)[:size, :size]
    stack = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(frames, size, size))
    rng = np.random.default_rng(0)
    for t in range(frames):
        stack[t] = rng.poisson(expectation)
    stack.flush()
    del stack
    return np.load(path, mmap_mode="r")


def stages(stack: np.ndarray, pixel_size: float, precision: str, repeats: int) -> dict:
    """Milliseconds per frame of each stage of the sbd path (mean over ``repeats`` frames)."""
    network, card = load_model(shipped_model_path())
    # The network the registry's sbd method runs: batch norms folded into their convolutions,
    # weights and input in the inference layout, in every precision.
    model, _ = fold_batch_norms(network)
    model.to(memory_format=MEMORY_FORMAT)
    times: dict[str, list[float]] = {k: [] for k in ("read", "bin", "network", "unbin", "write")}
    out = np.empty(stack.shape[1:], dtype=np.float32)
    for t in range(repeats + 1):  # the first is a warm-up, not counted
        marks = [time.perf_counter()]
        frame = np.array(stack[t])
        marks.append(time.perf_counter())
        grid = to_working_grid(frame, pixel_size, card.sampling)
        scale = np.float32(card.scale_for(grid.counts))
        marks.append(time.perf_counter())
        tensor = torch.from_numpy(grid.counts * scale)[None, None]
        with torch.inference_mode(), autocast(precision, torch.device("cpu")):
            net = model(tensor.contiguous(memory_format=MEMORY_FORMAT))[0, 0].float().numpy()
        marks.append(time.perf_counter())
        fine = from_working_grid(net / scale, grid)
        marks.append(time.perf_counter())
        out[...] = fine
        marks.append(time.perf_counter())
        if t > 0:
            for key, a, b in zip(times, marks[:-1], marks[1:], strict=True):
                times[key].append(1e3 * (b - a))
    return {f"{k}_ms": float(np.mean(v)) for k, v in times.items()}


def throughput(
    clean: np.ndarray,
    pixel_size: float,
    frames: dict[str, int],
    size: int,
    repeats: int,
) -> list[dict]:
    """End-to-end frames/s of the registry's sbd path over a memory-mapped stack.

    ``frames`` maps each precision to the number of frames it denoises (the first frames of one
    stack of the largest number).
    """
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        stack = _write_stack(Path(folder) / "stack.npy", clean, max(frames.values()), size, 0.45)
        for precision in PRECISIONS:
            count = frames[precision]
            prepared = prepare("sbd", {"precision": precision})
            out = np.lib.format.open_memmap(
                Path(folder) / f"denoised-{precision}.npy",
                mode="w+",
                dtype=np.float32,
                shape=(count, *stack.shape[1:]),
            )
            start = time.perf_counter()
            for t, denoised in enumerate(prepared.denoise_stack(stack[:count], pixel_size)):
                out[t] = denoised
            out.flush()
            seconds = time.perf_counter() - start
            del out
            row = {
                "precision": precision,
                "frames": count,
                "size": size,
                "seconds": seconds,
                "frames_per_s": count / seconds,
                "ms_per_frame": 1e3 * seconds / count,
                "fraction_of_camera_rate": count / seconds / CAMERA_FPS,
                "anon_rss_mib": _anonymous_rss_mib(),
                **stages(stack, pixel_size, precision, repeats),
            }
            rows.append(row)
            print(row, flush=True)
    return rows


def write_markdown(result: dict, path: Path) -> None:
    lines = [
        "# Network inference: bf16 against fp32, and stack throughput",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`; "
        f"{result['wall_minutes']:.1f} min wall.",
        "",
        "## Quality (shipped model, abTEM Pt/CeO2 frames, PSNR with peak 1 e-/px, unclipped)",
        "",
        "| dose e-/px | frames | fp32 dB | bf16 dB | bf16 vs fp32 dB |",
        "|---|---|---|---|---|",
    ]
    for row in result["quality"]:
        lines.append(
            f"| {row['dose_e_per_px']} | {row['frames']} | {row['psnr_fp32_db']:.2f} | "
            f"{row['psnr_bf16_db']:.2f} | {row['psnr_bf16_vs_fp32_db']:.1f} |"
        )
    lines += [
        "",
        "## Throughput (1024 x 1024 uint16 frames, memory-mapped in and out, sbd method)",
        "",
        "| precision | frames | frames/s | ms/frame | x camera (40 fps) | anon. RSS MiB | "
        "read | bin | network | unbin | write (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["throughput"]:
        lines.append(
            f"| {row['precision']} | {row['frames']} | {row['frames_per_s']:.2f} | "
            f"{row['ms_per_frame']:.0f} | {row['fraction_of_camera_rate']:.3f} | "
            f"{row['anon_rss_mib']:.0f} | {row['read_ms']:.1f} | {row['bin_ms']:.1f} | "
            f"{row['network_ms']:.0f} | {row['unbin_ms']:.0f} | {row['write_ms']:.1f} |"
        )
    if len(result["throughput"]) == 2:
        fp32, bf16 = result["throughput"]
        lines += [
            "",
            f"bf16 / fp32 end-to-end speed: {bf16['frames_per_s'] / fp32['frames_per_s']:.2f}x; "
            f"network alone: {fp32['network_ms'] / bf16['network_ms']:.2f}x.",
        ]
    lines += ["", result.get("note", "")]
    path.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="frames in the throughput stack")
    parser.add_argument(
        "--fp32-frames", type=int, default=200, help="frames denoised in fp32 (the reference)"
    )
    parser.add_argument("--size", type=int, default=1024, help="frame side, pixels")
    parser.add_argument("--quality-frames", type=int, default=4, help="noise frames per dose")
    parser.add_argument("--quality-size", type=int, default=512, help="quality frame side, px")
    parser.add_argument("--stage-frames", type=int, default=10, help="frames timed per stage")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--note", default="", help="a sentence for the results file")
    parser.add_argument("--output", type=Path, default=RESULTS / "inference")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    clean, pixel_size = _clean_frame(args.quality_size)
    result = {
        "machine": _machine(),
        "command": "python benchmarks/inference.py "
        f"--frames {args.frames} --fp32-frames {args.fp32_frames} "
        f"--quality-frames {args.quality_frames}",
        "quality": quality(clean, pixel_size, args.quality_frames),
        "throughput": throughput(
            clean,
            pixel_size,
            {"fp32": min(args.fp32_frames, args.frames), "bf16": args.frames},
            args.size,
            args.stage_frames,
        ),
        "note": args.note,
    }
    result["wall_minutes"] = (time.perf_counter() - start) / 60
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=2))
    write_markdown(result, args.output.with_suffix(".md"))
    print(args.output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
