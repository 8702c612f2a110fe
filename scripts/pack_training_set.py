"""Pack a simulated dataset's training images at the working grid into one compact store.

Usage (the campaign's training set, white training and validation images, about 45 MB)::

    .venv/bin/python scripts/pack_training_set.py /work/data/shipped-part2 data/packed

See :func:`sbdenoise.training.pack.pack_training_set`; ``scripts/train_device.sh`` carries the
result to a lent GPU machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.training.pack import pack_training_set


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="dataset folder (sbdenoise simulate)")
    parser.add_argument("out", type=Path, help="folder of the packed store")
    parser.add_argument("--sampling", type=float, default=None, help="working sampling, A/px")
    parser.add_argument("--splits", default="train,val", help="comma-separated splits kept")
    parser.add_argument(
        "--contrast", default="white", help="comma-separated contrast classes kept, or 'all'"
    )
    args = parser.parse_args(argv)
    contrast = None if args.contrast == "all" else args.contrast.split(",")
    target = pack_training_set(
        args.dataset,
        args.out,
        sampling=args.sampling,
        splits=args.splits.split(","),
        contrast=contrast,
    )
    packed = SimulatedDataset(target)
    print(
        f"{len(packed)} images of {packed.shape[1]} x {packed.shape[2]} px at "
        f"{packed.spec['packed']['sampling']:.4f} A/px (binning {packed.spec['packed']['binning']})"
        f" -> {target} ({target.stat().st_size / 1e6:.1f} MB)"
    )
    return target


if __name__ == "__main__":
    main()
