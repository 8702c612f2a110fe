"""Rebuild the campaign's datasets on a machine that kept no files (about 25 min on 2 cores).

The training campaign, its gate and its surface checks read these stores under ``DATA`` (default
``/work/data``), built in this order so that training can start after the first two:

- ``shipped-s5/``: the ``shipped`` preset with seed 20261206 (1,280 images of 160 structures),
  the particle crops of the campaign's runs since run t, and their validation crops;
- ``shipped-wide/``: ``campaign/shipped-wide.yaml`` (384 images of 48 structures in 10.6 nm
  cells), the wide, mostly-vacuum fields mixed in since run ag (``--mix``);
- ``surface/``: the ``surface`` preset (132 images), for the surface null and the trust checks
  of ``scripts/candidate_checks.sh``;
- ``shipped/``: the ``shipped`` preset (its own seed), and ``shipped-part/``: its first 512
  images (64 structures). The gate (``benchmarks/dose_sweep.py --dataset DATA/shipped-part``)
  scores the 48 white test images of this store, the same frames every gate in
  ``benchmarks/results/model_history.md`` scored; ``--gate-only`` simulates only those 512
  images of ``shipped/`` and stops (about 40 % of the preset's time);
- ``shipped-part2/``: the first 664 images of ``shipped/`` (83 structures), the training set of
  runs e-g (only when the whole preset is there).

The splits are assigned per structure over all the structures of a preset with its seed, so a
prefix store holds the same train/val/test labels as the whole one, and the simulation is
deterministic (seeded per structure and image), so a rebuilt store holds the same images as the
lost one: the rebuilt gate gives VST+BM3D 34.48 dB, the committed figure. Every store is resumable
and taken from the machine's dataset cache when it is there; existing stores are left alone::

    .venv/bin/python scripts/restore_campaign_data.py [--data /work/data] [--workers 2] \\
        [--stores shipped-s5,shipped-wide] [--gate-only]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from sbdenoise.config import DatasetSpec
from sbdenoise.io.atomic import atomic_write
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.presets import PRESETS
from sbdenoise.simulate.runner import (
    check_spec_file,
    plan_dataset,
    run_simulation,
    simulate_structure,
    warm_up_worker,
)
from sbdenoise.simulate.store import (
    STORE_NAME,
    ImageRecord,
    SimulatedDataset,
    consolidate,
    finished_indices,
    part_path,
    write_store,
)

ROOT = Path(__file__).resolve().parents[1]
#: Prefix stores: folder name -> number of leading images of the ``shipped`` preset.
PREFIXES = {"shipped-part": 512, "shipped-part2": 664}
#: Seed of the campaign's fifth structure set (``shipped-s5``).
S5_SEED = 20261206


def _s5_spec() -> DatasetSpec:
    return PRESETS["shipped"]().model_copy(update={"seed": S5_SEED})


#: Whole stores, in build order: folder name -> its spec.
WHOLE_STORES: dict[str, Callable[[], DatasetSpec]] = {
    "shipped-s5": _s5_spec,
    "shipped-wide": lambda: DatasetSpec.from_yaml(ROOT / "campaign" / "shipped-wide.yaml"),
    "surface": PRESETS["surface"],
}


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


def gate_from_parts(shipped: Path, out: Path, n_images: int) -> Path:
    """The gate's prefix store from the part files of an unfinished ``shipped`` simulation.

    Parameters
    ----------
    shipped : Path
        Folder of the ``shipped`` simulation (``spec.yaml`` and ``parts/``).
    out : Path
        Folder of the prefix store; its ``parts/`` are hard links to those of ``shipped``.
    n_images : int
        Number of leading images kept; every one must be finished.

    Returns
    -------
    Path
        The store written.
    """
    spec = DatasetSpec.from_yaml(shipped / "spec.yaml").model_dump(mode="json")
    for index in range(n_images):
        link = part_path(out, index)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.hardlink_to(part_path(shipped, index))
    return consolidate(out, n_images, spec)


def simulate_gate_images(shipped: Path, n_images: int, workers: int) -> None:
    """Simulate the structures of ``shipped``'s first ``n_images`` images into its ``parts/``.

    The folder stays a resumable simulation of the whole preset (same ``spec.yaml``, same part
    files), so ``sbdenoise simulate --preset shipped -o shipped`` finishes it later.
    """
    spec = PRESETS["shipped"]()
    check_spec_file(shipped, spec)  # as `sbdenoise simulate` does: one spec per folder
    done = finished_indices(shipped)
    tasks = [
        task
        for task in plan_dataset(spec)
        if any(image.index < n_images and image.index not in done for image in task.images)
    ]
    spec_json, skip = spec.model_dump_json(), frozenset(done)
    with ProcessPoolExecutor(workers, initializer=warm_up_worker) as pool:
        futures = [
            pool.submit(simulate_structure, task, spec_json, str(shipped), skip) for task in tasks
        ]
        for future in progress_bar(as_completed(futures), "gate images", total=len(futures)):
            future.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/data"), help="data folder")
    parser.add_argument("--workers", type=int, default=2, help="simulation worker processes")
    parser.add_argument(
        "--stores",
        default=",".join([*WHOLE_STORES, "shipped-part"]),
        help="comma-separated stores to build, in this order (default: all but shipped-part2)",
    )
    parser.add_argument(
        "--gate-only",
        action="store_true",
        help="for shipped-part, simulate only the 512 images it holds, not the whole preset",
    )
    args = parser.parse_args()
    names = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = sorted(set(names) - set(WHOLE_STORES) - set(PREFIXES))
    if unknown:
        parser.error(f"unknown stores {unknown}; known: {[*WHOLE_STORES, *PREFIXES]}")
    for name in names:
        target = args.data / name / STORE_NAME
        if target.exists():
            print(f"{name}: kept {target}")
        elif name in WHOLE_STORES:
            summary = run_simulation(WHOLE_STORES[name](), args.data / name, n_workers=args.workers)
            print(f"{name}: {summary.store} ({summary.n_images} images, {summary.seconds:.0f} s)")
        elif name == "shipped-part" and args.gate_only:
            n_images = PREFIXES[name]
            shipped = args.data / "shipped"
            simulate_gate_images(shipped, n_images, args.workers)
            print(f"{name}: wrote {gate_from_parts(shipped, args.data / name, n_images)}")
        else:
            summary = run_simulation(
                PRESETS["shipped"](), args.data / "shipped", n_workers=args.workers
            )
            print(f"shipped: {summary.store} ({summary.n_images} images, {summary.seconds:.0f} s)")
            whole = SimulatedDataset(summary.store)
            print(f"{name}: wrote {write_prefix(whole, args.data / name, PREFIXES[name])}")


if __name__ == "__main__":
    main()
