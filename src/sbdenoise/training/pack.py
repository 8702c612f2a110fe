"""A training set packed at the network's working grid: one compact file to carry elsewhere.

The trainer never looks at the detector grid: it sums ``b x b`` blocks of each clean image to the
working sampling first (:func:`sbdenoise.training.data.bin_sum`). :func:`pack_training_set` does
that once and stores the result in float16: a store of the same format (``dataset.h5``) whose
"detector" is the working grid (pixel size ``b`` times larger, vacuum dose ``b**2`` times larger
per pixel, the same per area), holding only the splits and contrasts asked for. For the
``shipped`` preset's white training and validation images (594 of 810 x 810 px at 0.061 A/px,
1.5 GB) that is about 45 MB, small enough to travel with one command to a lent GPU machine
(``scripts/train_device.sh``). Training on it gives the trainer the same working images up to
float16 rounding (a relative 5e-4, far below the Poisson noise of any dose it trains at).

``sbdenoise train PACKED ...`` needs no ``--sampling``: the store records the working sampling and
the trainer's default takes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import STORE_NAME, ImageRecord, SimulatedDataset, write_store
from sbdenoise.training.data import PACKED_KEY, bin_sum, common_binning

__all__ = ["PACKED_KEY", "pack_training_set"]


def pack_training_set(
    dataset: str | Path,
    out: str | Path,
    *,
    sampling: float | None = None,
    splits: Sequence[str] = ("train", "val"),
    contrast: Sequence[str] | None = ("white",),
    show_progress: bool = True,
) -> Path:
    """Bin a simulated dataset to the working grid and store it in float16.

    Parameters
    ----------
    dataset : str or Path
        A dataset folder (or its ``dataset.h5``) written by ``sbdenoise simulate``.
    out : str or Path
        Folder of the packed store (created; ``out/dataset.h5`` is written atomically). Must
        not be the dataset's own folder.
    sampling : float, optional
        Working sampling, angstrom per pixel; default four times the median pixel size (the
        trainer's default).
    splits : sequence of str
        Splits kept (the test split stays behind by default: the gate reads the original).
    contrast : sequence of str, optional
        Contrast classes kept; None keeps all.
    show_progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        The packed store.

    Raises
    ------
    InputError
        When nothing is selected, the pixel sizes need different binning factors, or ``out``
        is the dataset's folder.
    """
    data = SimulatedDataset(dataset)
    out = Path(out)
    if out.resolve() == data.path.parent.resolve():
        raise InputError("the packed store must go to another folder than the dataset", out)
    criteria: dict[str, Any] = {"split": list(splits)}
    if contrast is not None:
        criteria["contrast"] = list(contrast)
    indices = data.indices(**criteria)
    if len(indices) == 0:
        raise InputError(f"no image of the dataset matches {criteria}", data.path)
    pixel_sizes = data.params["pixel_size"][indices]
    working = sampling if sampling is not None else 4.0 * float(np.median(pixel_sizes))
    factor = common_binning(pixel_sizes, working, data.path)
    spec = _packed_spec(data, factor, working, criteria)

    def records() -> Iterator[ImageRecord]:
        for new_index, index in enumerate(progress_bar(indices, "packing", show=show_progress)):
            record = data.record(int(index))
            params = dict(record.params)
            params["pixel_size"] = float(params["pixel_size"]) * factor
            params["dose"] = float(params["dose"]) * factor**2
            params["packed_from_index"] = int(index)
            image = bin_sum(record.image, factor)
            yield ImageRecord(new_index, image, params, record.columns)

    out.mkdir(parents=True, exist_ok=True)
    target = out / STORE_NAME
    with atomic_write(target) as temporary:
        write_store(str(temporary), records(), len(indices), spec, image_dtype="f2")
    return target


def _packed_spec(
    data: SimulatedDataset, factor: int, sampling: float, criteria: dict[str, Any]
) -> dict[str, Any]:
    """The dataset's spec with the working grid as its detector, and how it was packed."""
    spec = dict(data.spec)
    detector = dict(spec.get("detector") or {})
    if "pixel_size" in detector:
        detector["pixel_size"] = float(detector["pixel_size"]) * factor
    if detector.get("dose") is not None:
        detector["dose"] = float(detector["dose"]) * factor**2
    spec["detector"] = detector
    spec[PACKED_KEY] = {
        "source": str(data.path),
        "binning": factor,
        "sampling": sampling,
        "image_dtype": "float16",
        "selection": criteria,
    }
    return spec
