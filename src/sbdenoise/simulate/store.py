"""The dataset store: clean simulated images, their parameters and the true column positions.

One HDF5 file per dataset (``dataset.h5``)::

    /images              (N, H, W) float32   noise-free expected counts per pixel (e-/px)
    /params/<name>       (N,)                one array per parameter (strings as UTF-8)
    /columns/<field>     (M,)                all true projected columns of all images
    /columns/offsets     (N + 1,) int64      columns of image i are rows offsets[i]:offsets[i+1]
    attrs                spec (JSON), nominal pixel_size (A), dose (e-/px), sbdenoise version

Parameters always present: ``structure_id``, ``split`` (train/val/test, by structure),
``contrast`` (white/black/intermediate), ``defocus_nm``, ``pixel_size`` (A), ``dose`` (e-/px in
vacuum). Column fields: ``x`` and ``y`` in angstrom, ``element``, ``n_atoms``, ``on_surface``.

Coordinates: a column at ``(x, y)`` angstrom lies at pixel ``(row, col) = (y, x) / pixel_size``
of its image (pixel centres at integer multiples of the pixel size, as in abTEM).

While a simulation runs, each finished image is written as its own part file (temporary name,
then rename), so an interrupted run loses at most the images in flight; :func:`consolidate`
gathers the parts into the store once all are present.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sbdenoise import __version__
from sbdenoise.errors import FileFormatError, SimulationError
from sbdenoise.io.atomic import atomic_write
from sbdenoise.specimen.columns import column_table

STORE_NAME = "dataset.h5"
PARTS_DIR = "parts"
COLUMN_FIELDS = ("x", "y", "element", "n_atoms", "on_surface")
REQUIRED_PARAMS = ("structure_id", "split", "contrast", "defocus_nm", "pixel_size", "dose")


@dataclass(frozen=True)
class ImageRecord:
    """One clean simulated image with its parameters and column truth.

    Attributes
    ----------
    index : int
        Position of the image in the dataset (fixed by the spec, so resumption is exact).
    image : numpy.ndarray
        Noise-free expected counts per pixel, ``(H, W)`` float32.
    params : dict
        Scalar parameters (numbers or strings), including :data:`REQUIRED_PARAMS`.
    columns : numpy.ndarray
        Structured array with :data:`COLUMN_FIELDS`.
    """

    index: int
    image: np.ndarray
    params: Mapping[str, Any]
    columns: np.ndarray


def part_path(directory: Path, index: int) -> Path:
    """Path of the part file of image ``index``."""
    return Path(directory) / PARTS_DIR / f"{index:06d}.npz"


def write_part(directory: str | Path, record: ImageRecord) -> Path:
    """Write one finished image atomically (temporary file, then rename)."""
    target = part_path(Path(directory), record.index)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, suffix=".tmp.npz") as temporary:
        np.savez(
            temporary,
            image=record.image.astype(np.float32),
            columns=record.columns,
            params=np.array(json.dumps(dict(record.params))),
        )
    return target


def read_part(path: str | Path) -> ImageRecord:
    """Read a part file written by :func:`write_part`."""
    with np.load(path, allow_pickle=False) as part:
        params = json.loads(str(part["params"]))
        return ImageRecord(int(Path(path).stem), part["image"], params, part["columns"])


def finished_indices(directory: str | Path) -> set[int]:
    """Indices whose part file exists (and is readable as a zip archive)."""
    parts = Path(directory) / PARTS_DIR
    if not parts.is_dir():
        return set()
    done = set()
    for path in parts.glob("[0-9]*.npz"):
        try:
            with np.load(path, allow_pickle=False) as part:
                part.files  # noqa: B018 - opening validates the archive
            done.add(int(path.stem))
        except (OSError, ValueError):
            path.unlink()  # a torn file from a killed run: simulate it again
    return done


def consolidate(
    directory: str | Path, n_images: int, spec: Mapping[str, Any], keep_parts: bool = False
) -> Path:
    """Gather all part files into ``dataset.h5`` (written atomically).

    Parameters
    ----------
    directory : str or Path
        Dataset folder holding ``parts/``.
    n_images : int
        Number of images the spec defines; every part must be present.
    spec : mapping
        The dataset specification, stored as JSON in the file's attributes.
    keep_parts : bool
        Keep the part files after consolidation.

    Returns
    -------
    Path
        The store written.
    """
    directory = Path(directory)
    missing = sorted(set(range(n_images)) - finished_indices(directory))
    if missing:
        raise SimulationError(f"{len(missing)} images are missing (first: {missing[:5]}): rerun")
    records = (read_part(part_path(directory, i)) for i in range(n_images))
    target = directory / STORE_NAME
    with atomic_write(target) as temporary:
        write_store(str(temporary), records, n_images, spec)
    if not keep_parts:
        for i in range(n_images):
            part_path(directory, i).unlink()
        (directory / PARTS_DIR).rmdir()
    return target


def write_store(
    path: str | Path,
    records: Iterable[ImageRecord],
    n_images: int,
    spec: Mapping[str, Any],
    image_dtype: str = "f4",
) -> None:
    """Write records into a new store file (not atomically: callers write a temporary file).

    Parameters
    ----------
    path : str or Path
        File to create (overwritten).
    records : iterable of ImageRecord
        The images, their ``index`` from 0 to ``n_images - 1``, all of one shape.
    n_images : int
        Number of images the store holds.
    spec : mapping
        The dataset specification, stored as JSON in the file's attributes.
    image_dtype : str
        Storage type of the images: ``"f4"`` (float32) or ``"f2"`` (float16, for compact
        packed training sets; read back as float32).
    """
    params: dict[str, list[Any]] = {}
    columns: list[np.ndarray] = []
    offsets = [0]
    with h5py.File(path, "w") as f:
        images = None
        for record in records:
            if images is None:
                shape = record.image.shape
                images = f.create_dataset(
                    "images", (n_images, *shape), image_dtype, chunks=(1, *shape), compression="lzf"
                )
            images[record.index] = record.image
            for key, value in record.params.items():
                params.setdefault(key, []).append(value)
            columns.append(record.columns)
            offsets.append(offsets[-1] + len(record.columns))
        group = f.create_group("params")
        for key, values in params.items():
            array = np.asarray(values)
            if array.dtype.kind == "U":
                array = array.astype(h5py.string_dtype())
            group.create_dataset(key, data=array)
        table = np.concatenate(columns) if columns else column_table([], [], [], [], [])
        group = f.create_group("columns")
        for name in COLUMN_FIELDS:
            data = table[name]
            if data.dtype.kind == "U":
                data = data.astype("S2")
            group.create_dataset(name, data=data)
        group.create_dataset("offsets", data=np.asarray(offsets, dtype=np.int64))
        f.attrs["spec"] = json.dumps(dict(spec), default=str)
        f.attrs["sbdenoise_version"] = __version__
        f.attrs["n_images"] = n_images


class SimulatedDataset:
    """Read-only access to a dataset store.

    Parameters
    ----------
    path : str or Path
        The ``dataset.h5`` file or the folder holding it.

    Examples
    --------
    >>> data = SimulatedDataset("data/smoke")          # doctest: +SKIP
    >>> test = data.indices(split="test", contrast="white")  # doctest: +SKIP
    >>> image, cols = data.image(test[0]), data.columns(test[0])  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / STORE_NAME
        if not path.is_file():
            raise FileFormatError("no dataset store here (run 'sbdenoise simulate' first)", path)
        self.path = path
        try:
            with h5py.File(path, "r") as f:
                self.spec: dict[str, Any] = json.loads(f.attrs["spec"])
                self.shape: tuple[int, ...] = tuple(f["images"].shape)
                self.params: dict[str, np.ndarray] = {
                    key: _decode(f["params"][key][()]) for key in f["params"]
                }
                self._offsets = f["columns/offsets"][()]
                self._columns = {name: _decode(f["columns"][name][()]) for name in COLUMN_FIELDS}
        except (OSError, KeyError) as error:
            raise FileFormatError(f"not a readable sbdenoise dataset ({error})", path) from error

    def __len__(self) -> int:
        return self.shape[0]

    def image(self, index: int) -> np.ndarray:
        """Clean image ``index`` (expected e-/px, float32)."""
        with h5py.File(self.path, "r") as f:
            return f["images"][index].astype(np.float32, copy=False)

    def images(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Several clean images as one ``(n, H, W)`` array."""
        with h5py.File(self.path, "r") as f:
            if indices is None:
                return f["images"][()].astype(np.float32, copy=False)
            order = np.argsort(indices)
            data = f["images"][np.asarray(indices)[order]]
            return data[np.argsort(order)].astype(np.float32, copy=False)

    def columns(self, index: int) -> np.ndarray:
        """True columns of image ``index`` as a structured array (x, y in angstrom)."""
        lo, hi = self._offsets[index], self._offsets[index + 1]
        return column_table(*(self._columns[name][lo:hi] for name in COLUMN_FIELDS))

    def record(self, index: int) -> ImageRecord:
        """Image, parameters and columns of one entry."""
        params = {key: _scalar(values[index]) for key, values in self.params.items()}
        return ImageRecord(index, self.image(index), params, self.columns(index))

    def indices(self, **criteria: Any) -> np.ndarray:
        """Indices whose parameters equal the given values (a tuple ``(lo, hi)`` is a range).

        Examples: ``indices(split="test")``, ``indices(contrast="white", defocus_nm=(0, 8))``.
        """
        keep = np.ones(len(self), dtype=bool)
        for key, wanted in criteria.items():
            if key not in self.params:
                raise KeyError(f"unknown parameter {key!r}; have {sorted(self.params)}")
            values = self.params[key]
            if isinstance(wanted, tuple) and len(wanted) == 2:
                keep &= (values >= wanted[0]) & (values <= wanted[1])
            elif isinstance(wanted, (list, set)):
                keep &= np.isin(values, list(wanted))
            else:
                keep &= values == wanted
        return np.flatnonzero(keep)


def _decode(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind in ("S", "O"):
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in array])
    return array


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
