"""Run a dataset simulation: resumable, parallel with dask.distributed, with progress.

Each task builds one structure, computes its exit wave once, and images it at every defocus of
the spec; each finished image is written as its own part file (atomically), so a killed run
resumes where it stopped. Workers can be a :class:`distributed.LocalCluster` on this machine
(default), an existing cluster (``scheduler="tcp://host:8786"``, which must share the output
folder's file system), or the calling process itself (``scheduler="synchronous"``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sbdenoise.config import DatasetSpec
from sbdenoise.errors import InputError, SimulationError
from sbdenoise.simulate import cache
from sbdenoise.simulate.contrast import classify_contrast
from sbdenoise.simulate.plan import StructureTask, default_image_size, plan_dataset
from sbdenoise.simulate.store import (
    STORE_NAME,
    ImageRecord,
    consolidate,
    finished_indices,
    write_part,
)

if TYPE_CHECKING:
    from sbdenoise.specimen.model import Specimen

SPEC_NAME = "spec.yaml"


@dataclass
class TaskTiming:
    """Seconds spent on one structure, split by stage."""

    structure_id: int
    n_images: int
    potential: float = 0.0
    multislice: float = 0.0
    imaging: float = 0.0
    total: float = 0.0


@dataclass
class SimulationSummary:
    """What a run did."""

    store: Path
    n_images: int
    n_simulated: int
    seconds: float
    timings: list[TaskTiming] = field(default_factory=list)

    @property
    def images_per_hour(self) -> float:
        """Throughput of this run (images simulated now, per wall-clock hour)."""
        return 3600.0 * self.n_simulated / self.seconds if self.seconds > 0 else float("nan")


def _build_specimen(spec: DatasetSpec, task: StructureTask):
    from sbdenoise.specimen.model import build_pt_ceo2, load_structure

    if spec.specimen.structure_file is not None:
        return load_structure(spec.specimen.structure_file, task.structure.tilt_deg)
    return build_pt_ceo2(task.structure, spec.specimen.cell_nm, spec.specimen.support_depth_nm)


def _crop(image: np.ndarray, columns: np.ndarray, size: int, pixel_size: float):
    """Centre-crop an image to ``size`` pixels and move the column truth with it."""
    if size > min(image.shape):
        raise InputError(
            f"image_size {size} px is larger than the simulated image {image.shape} px: "
            "reduce image_size or enlarge cell_nm"
        )
    r0, c0 = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    cropped = image[r0 : r0 + size, c0 : c0 + size]
    table = columns.copy()
    table["x"] -= c0 * pixel_size
    table["y"] -= r0 * pixel_size
    extent = size * pixel_size
    inside = (table["x"] >= 0) & (table["x"] < extent) & (table["y"] >= 0) & (table["y"] < extent)
    return np.ascontiguousarray(cropped), table[inside]


def structure_images(
    task: StructureTask,
    spec: DatasetSpec,
    timing: TaskTiming | None = None,
    specimen: Specimen | None = None,
) -> Iterator[ImageRecord]:
    """Simulate the images of one structure task, one exit wave for all of them.

    Parameters
    ----------
    task : StructureTask
        The structure and the images (defocus, nuisance values) to simulate.
    spec : DatasetSpec
        Optics, simulation grid and crop size.
    timing : TaskTiming, optional
        Filled with the seconds spent in the potential, the multislice and the imaging.
    specimen : Specimen, optional
        The atomic model to image instead of the one the task builds (an edited copy of it, for
        example with one column removed); its column truth is cropped like the task's.

    Yields
    ------
    ImageRecord
        Noise-free expected counts per detector pixel, parameters and column truth (Å).
    """
    from sbdenoise.simulate.imaging import hrtem_image
    from sbdenoise.simulate.multislice import configure_abtem, exit_wave

    configure_abtem()
    if specimen is None:
        specimen = _build_specimen(spec, task)
    wave = exit_wave(specimen, spec.optics, spec.simulation)
    if timing is not None:
        timing.potential, timing.multislice = wave.seconds_potential, wave.seconds_multislice
    waves = wave.waves
    if spec.simulation.imaging_sampling > max(waves.sampling):
        extent = np.asarray(waves.extent)
        gpts = tuple(int(g) for g in np.ceil(extent / spec.simulation.imaging_sampling))
        waves = waves.downsample(gpts=gpts)
    size = default_image_size(spec)
    for image_task in task.images:
        detector = hrtem_image(
            waves,
            spec.optics,
            image_task.defocus_nm,
            image_task.pixel_size,
            image_task.dose,
            focal_spread_nm=image_task.focal_spread_nm,
            vibration_pm=image_task.vibration_pm,
            focal_points=spec.simulation.focal_points,
        )
        if timing is not None:
            timing.imaging += detector.seconds
        image, columns = _crop(detector.image, specimen.columns, size, detector.pixel_size)
        contrast, pt_contrast, ce_contrast = classify_contrast(
            image, columns, detector.pixel_size, image_task.dose
        )
        params = {
            **task.structure.as_params(),
            "split": task.split,
            "contrast": contrast,
            "pt_contrast": pt_contrast,
            "ce_contrast": ce_contrast,
            "defocus_nm": image_task.defocus_nm,
            "focal_spread_nm": image_task.focal_spread_nm,
            "vibration_pm": image_task.vibration_pm,
            "dose": image_task.dose,
            "pixel_size": detector.pixel_size,
        }
        yield ImageRecord(image_task.index, image, params, columns)


def simulate_structure(
    task: StructureTask, spec_json: str, out_dir: str, skip: frozenset[int] = frozenset()
) -> TaskTiming:
    """Simulate every image of one structure that is not in ``skip`` and write its part file.

    Runs inside a worker; imports abTEM lazily so the scheduler process stays light.
    """
    start = time.perf_counter()
    spec = DatasetSpec.model_validate_json(spec_json)
    todo = tuple(image for image in task.images if image.index not in skip)
    timing = TaskTiming(task.structure.structure_id, len(todo))
    if not todo:
        return timing
    for record in structure_images(replace(task, images=todo), spec, timing):
        write_part(out_dir, record)
    timing.total = time.perf_counter() - start
    return timing


def warm_up_worker() -> None:
    """Pay abTEM's one-off costs (imports, numba JIT) once per worker."""
    from sbdenoise.simulate.multislice import configure_abtem, keep_freed_memory

    configure_abtem()
    keep_freed_memory()
    import abtem
    from ase import Atoms

    atoms = Atoms("Pt", positions=[[2.0, 2.0, 1.0]], cell=[4.0, 4.0, 2.0])
    potential = abtem.Potential(atoms, sampling=0.2, slice_thickness=1.0, projection="infinite")
    abtem.PlaneWave(energy=300e3).multislice(potential, lazy=False)


def check_spec_file(out_dir: Path, spec: DatasetSpec) -> None:
    """Keep one spec per folder: refuse to mix images of two specs."""
    path = out_dir / SPEC_NAME
    text = spec.to_yaml()
    if path.exists():
        if DatasetSpec.from_yaml(path) != spec:
            raise InputError(
                "this folder holds a dataset of a different spec: choose another output folder "
                "or remove it",
                out_dir,
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run_simulation(
    spec: DatasetSpec,
    out_dir: str | Path,
    scheduler: str | None = None,
    *,
    n_workers: int = 2,
    show_progress: bool = True,
    keep_parts: bool = False,
    use_cache: bool = True,
) -> SimulationSummary:
    """Simulate a dataset into ``out_dir`` (resuming a previous run of the same spec).

    Parameters
    ----------
    spec : DatasetSpec
        What to simulate.
    out_dir : str or Path
        Dataset folder: ``spec.yaml``, ``parts/`` while running, ``dataset.h5`` when done.
    scheduler : str, optional
        None: a LocalCluster with ``n_workers`` single-threaded processes; ``"synchronous"``:
        this process; otherwise the address of a running dask scheduler.
    n_workers : int
        Worker processes of the LocalCluster.
    show_progress : bool
        Show a progress bar over images.
    keep_parts : bool
        Keep the per-image part files after consolidation.
    use_cache : bool
        Take a finished store of the same spec from the machine's dataset cache, and add the
        store made here to it (:mod:`sbdenoise.simulate.cache`).

    Returns
    -------
    SimulationSummary
    """
    from sbdenoise.progress import progress_counter

    out_dir = Path(out_dir)
    start = time.perf_counter()
    check_spec_file(out_dir, spec)
    tasks = plan_dataset(spec)
    n_images = sum(len(task.images) for task in tasks)
    store = out_dir / STORE_NAME
    if store.exists() or (use_cache and cache.lookup(spec, store)):
        return SimulationSummary(store, n_images, 0, time.perf_counter() - start)
    done = finished_indices(out_dir)
    pending = [t for t in tasks if any(i.index not in done for i in t.images)]
    n_todo = sum(sum(i.index not in done for i in t.images) for t in pending)
    spec_json = spec.model_dump_json()
    timings: list[TaskTiming] = []
    skip = frozenset(done)
    with progress_counter(
        n_images, "simulate", show_progress, completed=n_images - n_todo
    ) as advance:
        if scheduler == "synchronous":
            for task in pending:
                timing = simulate_structure(task, spec_json, str(out_dir), skip)
                timings.append(timing)
                advance(timing.n_images)
        else:
            timings = _run_distributed(
                pending, spec_json, out_dir, skip, scheduler, n_workers, advance
            )
    path = consolidate(out_dir, n_images, json.loads(spec_json), keep_parts=keep_parts)
    if use_cache:
        cache.remember(spec, path)
    return SimulationSummary(path, n_images, n_todo, time.perf_counter() - start, timings)


def _run_distributed(pending, spec_json, out_dir, skip, scheduler, n_workers, advance):
    from distributed import Client, LocalCluster, as_completed

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        )
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    timings, failures = [], []
    try:
        client.run(warm_up_worker)
        futures = [
            client.submit(simulate_structure, task, spec_json, str(out_dir), skip, pure=False)
            for task in pending
        ]
        for future in as_completed(futures):
            try:
                timing = future.result()
            except Exception as error:  # keep going: the rest of the parts are still useful
                failures.append(repr(error))
                continue
            timings.append(timing)
            advance(timing.n_images)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if failures:
        raise SimulationError(
            f"{len(failures)} structures failed (the others are saved; rerun to retry): "
            f"{failures[0]}"
        )
    return timings
