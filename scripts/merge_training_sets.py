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

``--fresh-validation`` replaces a validation split that has chosen many models (and so no
longer predicts the test split) by one of structures no model has been selected on: the val
images of the last ``--add`` store become the merged store's ``val`` split, and the base's val
images join the training split. The base's test split, the gate, is kept as it is.

``--add-whole`` stores join with every image (train, val and test) in the training split: a
set simulated only to train on, whose splits nothing else uses, gives all of its structures
(a quarter more than its train split)::

    .venv/bin/python scripts/merge_training_sets.py /work/data/shipped-x3 \
        --add-whole /work/data/shipped-s4 -o /work/data/shipped-x4
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
    base: SimulatedDataset,
    extra: list[SimulatedDataset],
    fresh_validation: bool = False,
    whole: list[SimulatedDataset] | None = None,
) -> tuple[Iterator[ImageRecord], int]:
    """The records of the merged store, in order, and how many there are.

    Parameters
    ----------
    base : SimulatedDataset
        Store kept whole (indices kept).
    extra : list of SimulatedDataset
        Stores whose train images are added.
    fresh_validation : bool
        Take the validation split from the last of ``extra`` (its val images are added with
        split ``val``) and move the base's val images into the training split.
    whole : list of SimulatedDataset, optional
        Stores added after ``extra`` with every image, each in the training split.
    """
    whole = list(whole or [])
    kept = [("train",)] * len(extra)
    if fresh_validation:
        if not extra:
            raise ValueError("a fresh validation split needs a store to take it from")
        kept[-1] = ("train", "val")
    chosen = [
        np.flatnonzero(np.isin(np.asarray(d.params["split"]), k))
        for d, k in zip(extra, kept, strict=True)
    ] + [np.arange(len(d)) for d in whole]
    as_train = [False] * len(extra) + [True] * len(whole)
    total = len(base) + sum(len(c) for c in chosen)

    def records() -> Iterator[ImageRecord]:
        index = 0
        offset = int(np.max(base.params["structure_id"])) + 1
        for i in range(len(base)):
            record = base.record(i)
            if fresh_validation and record.params["split"] == "val":
                record = replace(record, params={**record.params, "split": "train"})
            yield replace(record, index=index)
            index += 1
        for data, train, to_train in zip(extra + whole, chosen, as_train, strict=True):
            for i in train:
                record = data.record(int(i))
                params = dict(record.params)
                params["structure_id"] = int(params["structure_id"]) + offset
                if to_train:
                    params["split"] = "train"
                yield replace(record, index=index, params=params)
                index += 1
            offset += int(np.max(data.params["structure_id"])) + 1

    return progress_bar(records(), "merging", total=total), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="store kept whole (its val and test splits rule)")
    parser.add_argument(
        "--add", type=Path, nargs="+", default=[], help="stores whose train images are added"
    )
    parser.add_argument(
        "--add-whole",
        type=Path,
        nargs="+",
        default=[],
        help="stores whose every image is added to the training split",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="folder of the merged store"
    )
    parser.add_argument(
        "--fresh-validation",
        action="store_true",
        help="validate on the last --add store's val images; the base's val images train",
    )
    args = parser.parse_args()
    if not args.add and not args.add_whole:
        parser.error("nothing to add: give --add and/or --add-whole stores")
    base = SimulatedDataset(args.base)
    extra = [SimulatedDataset(path) for path in args.add]
    whole = [SimulatedDataset(path) for path in args.add_whole]
    records, total = merged_records(base, extra, args.fresh_validation, whole)
    args.output.mkdir(parents=True, exist_ok=True)
    target = args.output / STORE_NAME
    if target.exists():
        raise SystemExit(f"{target} exists: choose another output folder")
    with atomic_write(target) as temporary:
        write_store(str(temporary), records, total, base.spec)
    added = "train and val" if args.fresh_validation else "train"
    whole_images = sum(len(d) for d in whole)
    print(
        f"wrote {target}: {len(base)} images of {args.base}, "
        f"{total - len(base) - whole_images} {added} images and {whole_images} images of whole "
        "stores (as training images) added"
    )


if __name__ == "__main__":
    main()
