"""Install a trained model as the shipped one, with its Table 1 test metrics in the card.

Usage (from the repository root)::

    .venv/bin/python scripts/ship_model.py MODEL.safetensors            # install it
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
import sys
from pathlib import Path

from sbdenoise.nn.model_file import load_model, model_paths, save_model
from sbdenoise.pretrained import SHIPPED_MODEL_NAME

TARGET = Path(__file__).resolve().parents[1] / "src" / "sbdenoise" / "pretrained"
MAX_BYTES = 20 * 2**20


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


def main(argv: list[str]) -> Path:
    """Copy the model into the package with the test metrics added to its card."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="trained model (.safetensors or card .json)")
    parser.add_argument(
        "--table1", type=Path, default=None, help="table1.json computed with this model file"
    )
    args = parser.parse_args(argv)
    weights, _ = model_paths(args.model)
    module, card = load_model(weights)
    if args.table1 is not None:
        metrics = test_metrics(json.loads(args.table1.read_text()), weights)
        card = card.model_copy(update={"metrics": {**card.metrics, **metrics}})
    target = save_model(TARGET / SHIPPED_MODEL_NAME, module, card)
    size = target.stat().st_size
    if size > MAX_BYTES:
        target.unlink()
        target.with_suffix(".json").unlink()
        raise SystemExit(f"{target.name} is {size / 2**20:.1f} MiB, over the 20 MiB limit")
    load_model(target)  # the installed file loads
    print(f"shipped {target} ({size / 2**20:.2f} MiB, sha256 {sha256(target)[:16]}...)")
    return target


if __name__ == "__main__":
    main(sys.argv[1:])
