"""One store for training on more structures: a base store whole, plus other stores' train images.

``sbdenoise train`` reads one dataset. To train on the structures of several simulations (for
example two ``shipped`` sets with different seeds) while validating and testing on exactly the
base store's splits, this writes a store holding every image of ``BASE`` (train, val and test,
indices kept) followed by the *train* images of each ``--add`` store (re-indexed; their val and
test images are left out, so validation curves stay comparable with runs on ``BASE``). Their
``structure_id`` is offset past the base's so structures stay distinct. Inputs are only read;
the output is written atomically::

    .venv/bin/python scripts/merge_training_sets.py /work/data/shipped \\
        --add /work/data/shipped-s2 -o /work/data/shipped-x2
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from sbdenoise.io.atomic import atomic_write
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import STORE_NAME, ImageRecord, SimulatedDataset, write_store


def merged_records(
    base: SimulatedDataset, extra: list[SimulatedDataset]
) -> tuple[Iterator[ImageRecord], int]:
    """The records of the merged store, in order, and how many there are."""
    chosen = [np.flatnonzero(np.asarray(d.params["split"]) == "train") for d in extra]
    total = len(base) + sum(len(c) for c in chosen)

    def records() -> Iterator[ImageRecord]:
        index = 0
        offset = int(np.max(base.params["structure_id"])) + 1
        for i in range(len(base)):
            yield replace(base.record(i), index=index)
            index += 1
        for data, train in zip(extra, chosen, strict=True):
            for i in train:
                record = data.record(int(i))
                params = dict(record.params)
                params["structure_id"] = int(params["structure_id"]) + offset
                yield replace(record, index=index, params=params)
                index += 1
            offset += int(np.max(data.params["structure_id"])) + 1

    return progress_bar(records(), "merging", total=total), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="store kept whole (its val and test splits rule)")
    parser.add_argument(
        "--add", type=Path, nargs="+", required=True, help="stores whose train images are added"
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="folder of the merged store"
    )
    args = parser.parse_args()
    base = SimulatedDataset(args.base)
    extra = [SimulatedDataset(path) for path in args.add]
    records, total = merged_records(base, extra)
    args.output.mkdir(parents=True, exist_ok=True)
    target = args.output / STORE_NAME
    if target.exists():
        raise SystemExit(f"{target} exists: choose another output folder")
    with atomic_write(target) as temporary:
        write_store(str(temporary), records, total, base.spec)
    print(
        f"wrote {target}: {len(base)} images of {args.base}, {total - len(base)} train images added"
    )


if __name__ == "__main__":
    main()
