"""Rebuild the campaign's datasets on a machine that kept no files (about 10 min on 2 cores).

The training campaign and its gate read three stores under ``DATA`` (default ``/work/data``):

- ``shipped/``: the whole ``shipped`` preset (1,280 images of 160 structures; resumable, and
  taken from the machine's dataset cache when it is there);
- ``shipped-part/``: its first 512 images (64 structures). The gate
  (``benchmarks/dose_sweep.py --dataset DATA/shipped-part``) scores the 48 white test images of
  this store, the same frames every gate in ``benchmarks/results/model_history.md`` scored;
- ``shipped-part2/``: its first 664 images (83 structures), the training set of runs e-g.

The splits are assigned per structure over all 160 structures with the preset's seed, so a prefix
store holds the same train/val/test labels as the whole one, and the simulation is deterministic
(seeded per structure and image), so a rebuilt store holds the same images as the lost one.
Existing stores are left alone::

    .venv/bin/python scripts/restore_campaign_data.py [--data /work/data] [--workers 2]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from sbdenoise.io.atomic import atomic_write
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.presets import PRESETS
from sbdenoise.simulate.runner import run_simulation
from sbdenoise.simulate.store import STORE_NAME, ImageRecord, SimulatedDataset, write_store

#: Prefix stores: folder name -> number of leading images of the ``shipped`` preset.
PREFIXES = {"shipped-part": 512, "shipped-part2": 664}


def write_prefix(dataset: SimulatedDataset, out: Path, n_images: int) -> Path:
    """Store the first ``n_images`` images of ``dataset`` in ``out/dataset.h5`` (atomically).

    Parameters
    ----------
    dataset : SimulatedDataset
        The whole store.
    out : Path
        Folder of the prefix store (created).
    n_images : int
        Number of leading images kept.

    Returns
    -------
    Path
        The store written.
    """
    if n_images > len(dataset):
        raise ValueError(f"the dataset holds {len(dataset)} images, fewer than {n_images}")

    def records() -> Iterator[ImageRecord]:
        for index in progress_bar(range(n_images), f"writing {out.name}"):
            yield dataset.record(index)

    out.mkdir(parents=True, exist_ok=True)
    target = out / STORE_NAME
    with atomic_write(target) as temporary:
        write_store(str(temporary), records(), n_images, dataset.spec)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/data"), help="data folder")
    parser.add_argument("--workers", type=int, default=2, help="simulation worker processes")
    args = parser.parse_args()
    summary = run_simulation(PRESETS["shipped"](), args.data / "shipped", n_workers=args.workers)
    print(f"shipped: {summary.store} ({summary.n_images} images, {summary.seconds:.0f} s)")
    whole = SimulatedDataset(summary.store)
    for name, n_images in PREFIXES.items():
        target = args.data / name / STORE_NAME
        if target.exists():
            print(f"{name}: kept {target}")
            continue
        print(f"{name}: wrote {write_prefix(whole, args.data / name, n_images)}")


if __name__ == "__main__":
    main()
