"""Mismatch in numbers: what the shipped model does on data outside its training conditions.

The shipped model was trained on the ``shipped`` preset: white contrast, defocus -20 to -6 nm
(abTEM sign), support 3-6 nm, tilts up to 4 degrees, pixel size 0.061 A +- 5 %, rotations within
+-45 degrees as augmentation. Each condition below is a set of clean images, one Poisson draw each
at 0.45 e-/px, scored for the shipped SBD model and tuned VST+BM3D with
:func:`sbdenoise.analysis.evaluation.evaluate` (PSNR; columns detected in the denoised frame
that match no true column, per image; surface precision):

- ``in range``: new structures of the preset's grid at -13 nm (the reference row);
- ``defocus -25 nm`` / ``defocus -1 nm``: the same structures beyond either end of the range;
- ``support 8 nm``: a thicker support than any in training; ``tilt 6 deg``: a larger tilt;
- ``pixel +-10 %``: the in-range images with a pixel size 10 % off the training range's centre
  (the frame is the same, its calibration says 0.067 or 0.055 A/px: a user at such a pixel size;
  no integer binning reaches the model's 0.244 A/px within 6 %, so the frame is binned by 3 or 4
  and Fourier-resampled, :mod:`sbdenoise.nn.sampling`);
- ``rotation 15/30 deg``: the in-range images rotated in the plane (central square kept).

The simulations (5 structures per spec, about 5 s per image on 2 cores) are cached in --work.
Writes ``mismatch.json`` and ``mismatch.md``::

    .venv/bin/python benchmarks/mismatch.py --work /work/data/mismatch
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dose_sweep import bm3d_params
from table1 import RESULTS, machine, write_results

from sbdenoise.analysis.evaluation import evaluate
from sbdenoise.errors import SbdenoiseError
from sbdenoise.simulate.presets import get_preset
from sbdenoise.simulate.runner import run_simulation
from sbdenoise.simulate.store import ImageRecord, SimulatedDataset, consolidate, write_part
from sbdenoise.specimen.columns import column_table

IN_RANGE_NM = -13.0
METHODS = ("sbd", "vst-bm3d")


def specs(structures: int) -> dict[str, Any]:
    """The three small simulations: defoci around the range, a thick support, a large tilt."""
    base = get_preset("shipped")
    base = base.model_copy(update={"n_structures": structures, "seed": 77, "name": "mismatch"})

    def variant(name: str, defoci: list[float], **specimen: Any) -> Any:
        return base.model_copy(
            update={
                "name": f"mismatch-{name}",
                "optics": base.optics.model_copy(update={"defocus_nm": defoci}),
                "specimen": base.specimen.model_copy(update=specimen),
            }
        )

    return {
        "defocus": variant("defocus", [-25.0, IN_RANGE_NM, -1.0]),
        "support": variant("support", [IN_RANGE_NM], support_thickness_nm=[8.0]),
        "tilt": variant("tilt", [IN_RANGE_NM], tilt_deg=[(6.0, 0.0)]),
    }


def _record(index: int, image: np.ndarray, params: dict[str, Any], columns: np.ndarray) -> Any:
    table = column_table(
        x=columns["x"],
        y=columns["y"],
        element=list(columns["element"]),
        n_atoms=list(columns["n_atoms"]),
        on_surface=list(columns["on_surface"]),
    )
    return ImageRecord(index, image.astype(np.float32), {**params, "split": "test"}, table)


def _entries(data: SimulatedDataset) -> list[tuple[np.ndarray, dict[str, Any], np.ndarray]]:
    """``(image, params, columns)`` of every image, each read once."""
    records = [data.record(index) for index in range(len(data))]
    return [(record.image, record.params, record.columns) for record in records]


def rotated(image: np.ndarray, columns: np.ndarray, pixel: float, degrees: float) -> tuple:
    """The image rotated about its centre, the central square that stays inside, columns too."""
    turned = ndimage.rotate(image, degrees, reshape=False, order=3, mode="nearest")
    angle = np.radians(degrees)
    side = int(image.shape[0] / (abs(np.cos(angle)) + abs(np.sin(angle))))
    start = (image.shape[0] - side) // 2
    crop = turned[start : start + side, start : start + side]
    centre = (np.array(image.shape) - 1) / 2.0 * pixel
    y, x = columns["y"] - centre[0], columns["x"] - centre[1]
    # ndimage.rotate turns the array counter-clockwise in (row, col) display: x' = c x + s y ...
    new_x = np.cos(angle) * x + np.sin(angle) * y + centre[1] - start * pixel
    new_y = -np.sin(angle) * x + np.cos(angle) * y + centre[0] - start * pixel
    moved = columns.copy()
    moved["x"], moved["y"] = new_x, new_y
    inside = (new_x >= 0) & (new_y >= 0) & (new_x < side * pixel) & (new_y < side * pixel)
    return crop, moved[inside]


def build_conditions(sims: dict[str, SimulatedDataset], work: Path) -> dict[str, Path]:
    """One store per condition (every image in its test split)."""
    chosen: dict[str, list[tuple[np.ndarray, dict[str, Any], np.ndarray]]] = {}
    for entry in _entries(sims["defocus"]):
        params = entry[1]
        name = {
            IN_RANGE_NM: "in range (-13 nm)",
            -25.0: "defocus -25 nm",
            -1.0: "defocus -1 nm",
        }[float(params["defocus_nm"])]
        chosen.setdefault(name, []).append(entry)
    for key, label in (("support", "support 8 nm"), ("tilt", "tilt 6 deg")):
        chosen[label] = _entries(sims[key])
    reference = chosen["in range (-13 nm)"]
    for factor, label in ((1.1, "pixel +10 % (0.067 A/px)"), (0.9, "pixel -10 % (0.055 A/px)")):
        entries = []
        for image, params, columns in reference:
            scaled = columns.copy()
            scaled["x"], scaled["y"] = columns["x"] * factor, columns["y"] * factor
            entries.append((image, {**params, "pixel_size": params["pixel_size"] * factor}, scaled))
        chosen[label] = entries
    for degrees in (15.0, 30.0):
        entries = []
        for image, params, columns in reference:
            crop, moved = rotated(image, columns, float(params["pixel_size"]), degrees)
            entries.append((crop, params, moved))
        chosen[f"rotation {degrees:.0f} deg"] = entries
    stores = {}
    for number, (label, entries) in enumerate(chosen.items()):
        folder = work / "conditions" / f"{number:02d}"
        if not (folder / "dataset.h5").exists():
            for index, (image, params, columns) in enumerate(entries):
                write_part(folder, _record(index, image, params, columns))
            consolidate(folder, len(entries), {"name": label})
        stores[label] = folder
    return stores


def condition_stores(work: Path, structures: int) -> dict[str, Path]:
    """Simulate (cached in ``work``) and store every condition; label -> store folder."""
    sims = {}
    for key, spec in specs(structures).items():
        folder = work / key
        run_simulation(spec, folder, scheduler="synchronous", show_progress=True)
        sims[key] = SimulatedDataset(folder)
    return build_conditions(sims, work)


def score(
    store: Path, method: str, bm3d: dict[str, Any], model: str | Path | None = None
) -> dict[str, Any]:
    """PSNR, unmatched detected columns per image and surface precision; or why it refused.

    ``model`` is the network file for ``sbd`` (None: the shipped model).
    """
    data = SimulatedDataset(store)
    params = bm3d if method == "vst-bm3d" else None
    start = time.perf_counter()
    try:
        result = evaluate(
            data,
            method,
            params=params,
            model=model,
            indices=list(range(len(data))),
            n_realisations=1,
        )
    except SbdenoiseError as error:
        return {"refused": str(error).splitlines()[0]}
    rows = result.rows
    return {
        "psnr": float(np.mean([r["psnr"] for r in rows])),
        "psnr_noisy": float(np.mean([r["psnr_noisy"] for r in rows])),
        "unmatched_columns": float(np.mean([r["all_false_positives"] for r in rows])),
        "surface_precision": float(np.nanmean([r["surface_precision"] for r in rows])),
        "images": len(rows),
        "seconds_per_image": (time.perf_counter() - start) / max(len(rows), 1),
    }


def _machine_text(machine_info: dict[str, Any]) -> str:
    versions = machine_info.get("versions", {})
    return (
        f"{machine_info.get('processor', '?')}, {machine_info.get('usable_cpus', '?')} usable "
        f"CPUs, torch {versions.get('torch', '?')}, bm3d {versions.get('bm3d', '?')}"
    )


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Mismatch: the shipped model outside its training conditions",
        "",
        f"Machine: {_machine_text(result['machine'])}. Command: `{result['command']}`; "
        f"{result['minutes']:.1f} "
        "min wall in all (simulation included). One Poisson draw per image at 0.45 e-/px; "
        "unmatched columns: columns detected in the denoised frame with no true column within "
        "the match distance, per image.",
        "",
        "| condition | images | SBD PSNR (dB) | VST+BM3D PSNR (dB) | SBD - VST+BM3D (dB) | "
        "unmatched columns per image, SBD / VST+BM3D | surface precision, SBD / VST+BM3D |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for label, row in result["conditions"].items():
        sbd, bm3d = row["sbd"], row["vst-bm3d"]
        if "refused" in sbd:
            lines.append(
                f"| {label} | - | refused: {sbd['refused']} | "
                f"{bm3d.get('psnr', float('nan')):.2f} | - | - | - |"
            )
            continue
        lines.append(
            f"| {label} | {sbd['images']} | {sbd['psnr']:.2f} | {bm3d['psnr']:.2f} | "
            f"{sbd['psnr'] - bm3d['psnr']:+.2f} | {sbd['unmatched_columns']:.1f} / "
            f"{bm3d['unmatched_columns']:.1f} | {sbd['surface_precision']:.2f} / "
            f"{bm3d['surface_precision']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="Simulations and stores.")
    parser.add_argument("--structures", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    stores = condition_stores(args.work, args.structures)
    bm3d = bm3d_params(RESULTS / "table1.json")
    conditions = {}
    for label, store in stores.items():
        conditions[label] = {method: score(store, method, bm3d) for method in METHODS}
        print(label, json.dumps(conditions[label]), flush=True)
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine("cpu"),
        "minutes": (time.perf_counter() - start) / 60.0,
        "conditions": conditions,
    }
    write_results(args.output, "mismatch", result, markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
