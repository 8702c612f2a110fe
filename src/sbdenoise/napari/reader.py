"""napari reader: microscope files as image layers calibrated in angstrom.

napari calls :func:`get_reader` with a path; for a suffix :func:`sbdenoise.io.read_image`
understands it returns :func:`read_layers`, which reads the file (pixel size normalised to Å)
and gives one image layer whose ``scale`` is that pixel size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sbdenoise.io import SUPPORTED_READ_SUFFIXES, Micrograph, read_image
from sbdenoise.napari.layers import LayerData, micrograph_layer

__all__ = ["get_reader", "read_layers"]

PathLike = str | Path


def _single_path(path: PathLike | Sequence[PathLike]) -> Path | None:
    """The one path napari offers, or None for several paths (a stack of files is not read)."""
    if isinstance(path, str | Path):
        return Path(path)
    paths = list(path)
    return Path(paths[0]) if len(paths) == 1 else None


def get_reader(path: PathLike | Sequence[PathLike]) -> Callable[..., list[LayerData]] | None:
    """Return :func:`read_layers` if sbdenoise reads this file, else None.

    Parameters
    ----------
    path : str, Path or sequence of them
        What napari was asked to open. Only one file is taken.

    Returns
    -------
    callable or None
        The reader function, or None so that napari asks another plugin.
    """
    single = _single_path(path)
    if single is None or single.suffix.lower() not in SUPPORTED_READ_SUFFIXES:
        return None
    return read_layers


def read_layers(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """Read a file into one napari image layer, with its pixel size in angstrom as ``scale``.

    Parameters
    ----------
    path : str, Path or a sequence of one of them
        A file of a format :func:`sbdenoise.io.read_image` reads.

    Returns
    -------
    list of tuple
        ``[(data, kwargs, "image")]``: the pixel values as stored (detector units stay detector
        units) and the layer's name, ``scale`` (Å per pixel; 1 on a stack's frame axis),
        ``units``, ``axis_labels`` and ``metadata`` (see
        :func:`sbdenoise.napari.layers.micrograph_layer`).
    """
    single = _single_path(path)
    if single is None:
        raise ValueError("sbdenoise reads one file at a time")
    micrograph: Micrograph = read_image(single)
    data, kwargs, kind = micrograph_layer(micrograph, name=single.name)
    return [(data, kwargs, kind)]
