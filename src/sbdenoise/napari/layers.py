"""napari layer data built from sbdenoise results: plain arrays and keyword arguments.

Every layer is in the same world coordinates, angstrom: an image of pixel size ``p`` has
``scale = (p, p)`` (its pixel ``(i, j)`` centred at ``(i p, j p)`` Å) and the column points are
given in that image's pixel coordinates with the same scale. A frame with no known pixel size is
shown in pixels (``scale`` 1, ``units`` ``"pixel"``).

Each function returns napari's "layer data tuple" ``(data, kwargs, layer_type)``; nothing here
imports napari.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sbdenoise.analysis.pixel_filter import PixelFilter
from sbdenoise.analysis.trust import FrameVerdicts
from sbdenoise.analysis.trust_plot import VERDICT_STYLE
from sbdenoise.io import Micrograph

__all__ = [
    "LENGTH_UNIT",
    "Geometry",
    "LayerData",
    "denoised_layer",
    "filter_layer",
    "likelihood_layer",
    "micrograph_layer",
    "verdict_colours",
    "verdict_layer",
]

#: ``(data, kwargs, layer type)`` as napari readers and widgets return layers.
LayerData = tuple[np.ndarray, dict[str, Any], str]

#: Length unit of every calibrated layer, as napari (pint) spells it.
LENGTH_UNIT = "angstrom"
#: Where the plugin keeps what it knows in a layer's ``metadata``.
METADATA_KEY = "sbdenoise"

#: Colour map of the likelihood-ratio overlay: vermilion (against the column) through
#: transparent (no evidence either way) to blue (for it), the colours of the verdicts.
EVIDENCE_COLORMAP = {
    "name": "sbdenoise evidence",
    "colors": [[0.835, 0.369, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0], [0.0, 0.447, 0.698, 1.0]],
    "controls": [0.0, 0.5, 1.0],
}


@dataclass(frozen=True)
class Geometry:
    """Where the pixels of a frame lie in the viewer's world coordinates.

    Attributes
    ----------
    step : float
        World units per pixel (the pixel size in angstrom for a calibrated frame).
    unit : str
        The world unit, as napari (pint) spells it: ``"angstrom"``, or ``"pixel"`` when the pixel
        size is unknown.
    origin : tuple of float
        World position ``(y, x)`` of the centre of pixel ``(0, 0)``.
    """

    step: float = 1.0
    unit: str = "pixel"
    origin: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_pixel_size(cls, pixel_size: float | None) -> Geometry:
        """A frame at the world origin, in angstrom (in pixels when ``pixel_size`` is None)."""
        if pixel_size is None:
            return cls()
        return cls(float(pixel_size), LENGTH_UNIT)

    @classmethod
    def of_layer(cls, layer: Any) -> Geometry:
        """The geometry of the last two axes of a napari layer (so new layers align with it)."""
        return cls(
            float(layer.scale[-1]),
            str(layer.units[-1]),
            (float(layer.translate[-2]), float(layer.translate[-1])),
        )

    def kwargs(self, ndim: int = 2) -> dict[str, Any]:
        """``scale``, ``translate``, ``units`` and ``axis_labels`` of a frame or a stack.

        Parameters
        ----------
        ndim : int
            2 for a frame ``(y, x)``, 3 for a stack ``(frame, y, x)`` (frame axis in steps of 1).
        """
        if ndim not in (2, 3):
            raise ValueError(f"a frame or a stack has 2 or 3 dimensions, got {ndim}")
        kwargs: dict[str, Any] = {
            "scale": (self.step, self.step),
            "translate": self.origin,
            "units": (self.unit, self.unit),
            "axis_labels": ("y", "x"),
        }
        if ndim == 3:
            kwargs = {
                "scale": (1.0, *kwargs["scale"]),
                "translate": (0.0, *kwargs["translate"]),
                "units": ("pixel", *kwargs["units"]),
                "axis_labels": ("frame", *kwargs["axis_labels"]),
            }
        return kwargs

    def binned(self, factor: int, corner: tuple[int, int] = (0, 0)) -> Geometry:
        """The geometry of ``factor x factor`` block sums, starting at block ``corner``.

        Block ``k`` covers pixels ``k f .. k f + f - 1``, so its centre lies at
        ``(k f + (f - 1) / 2)`` pixels.
        """
        offset = [(c * factor + (factor - 1) / 2) * self.step for c in corner]
        return Geometry(
            self.step * factor,
            self.unit,
            (self.origin[0] + offset[0], self.origin[1] + offset[1]),
        )


def micrograph_layer(micrograph: Micrograph, name: str | None = None) -> LayerData:
    """An image layer of a micrograph as read from a file.

    Parameters
    ----------
    micrograph : Micrograph
        From :func:`sbdenoise.io.read_image`.
    name : str, optional
        Layer name (default: the file name).

    Returns
    -------
    LayerData
        The stored values and ``metadata["sbdenoise"]`` with ``pixel_size_angstrom`` (None when
        unknown), ``length_unit`` (``"Å"``), ``units_found`` (as stored in the file), ``source``
        and the file's ``format``; the reader's other metadata under ``"file"``.
    """
    data = micrograph.data
    source = None if micrograph.source is None else str(micrograph.source)
    record = {
        "pixel_size_angstrom": micrograph.pixel_size,
        "length_unit": "Å",
        "units_found": micrograph.units_found,
        "source": source,
        "format": micrograph.metadata.get("format"),
    }
    kwargs = {
        "name": name or (micrograph.source.name if micrograph.source else "micrograph"),
        "colormap": "gray",
        "metadata": {METADATA_KEY: record, "file": dict(micrograph.metadata)},
        **Geometry.from_pixel_size(micrograph.pixel_size).kwargs(data.ndim),
    }
    return data, kwargs, "image"


def denoised_layer(
    denoised: np.ndarray,
    pixel_size: float | None,
    name: str,
    record: dict[str, Any],
    geometry: Geometry | None = None,
) -> LayerData:
    """The denoised frame as an image layer (expected e-/px), with what was done in metadata.

    ``geometry`` places it over the frame it came from (default: at the origin, in Å).
    """
    geometry = geometry or Geometry.from_pixel_size(pixel_size)
    kwargs = {
        "name": name,
        "colormap": "gray",
        "metadata": {METADATA_KEY: {"pixel_size_angstrom": pixel_size, **record}},
        **geometry.kwargs(denoised.ndim),
    }
    return np.asarray(denoised, dtype=np.float32), kwargs, "image"


def likelihood_layer(
    verdicts: FrameVerdicts, name: str, geometry: Geometry | None = None
) -> LayerData:
    """The Poisson log-likelihood-ratio map as a translucent overlay.

    Each pixel of a candidate's disc holds the mean log-likelihood ratio of that candidate's
    region (column the denoiser drew against vacuum, nats per pixel), NaN (transparent) elsewhere;
    blue is evidence for the column, vermilion against it, transparent near zero
    (:data:`EVIDENCE_COLORMAP`), with symmetric contrast limits at the 98th percentile of the
    absolute values (so that weak evidence still shows colour).
    ``geometry`` places it over the analysed frame (default: at the origin, in Å).
    """
    likelihood = verdicts.likelihood
    values = np.asarray(likelihood.map, dtype=np.float32)
    finite = values[np.isfinite(values)]
    limit = float(np.percentile(np.abs(finite), 98)) if finite.size else 1.0
    limit = max(limit, 2 * abs(likelihood.real_threshold), 1e-6)
    kwargs = {
        "name": name,
        "colormap": EVIDENCE_COLORMAP,
        "contrast_limits": (-limit, limit),
        "opacity": 0.8,
        "blending": "translucent",
        "metadata": {
            METADATA_KEY: {
                "quantity": "Poisson log-likelihood ratio, column against vacuum",
                "unit": "nats per pixel",
                "radius_angstrom": likelihood.radius,
                "vacuum_rate": likelihood.vacuum.rate,
                "real_threshold": likelihood.real_threshold,
                "spurious_threshold": likelihood.spurious_threshold,
            }
        },
        **(geometry or Geometry.from_pixel_size(likelihood.pixel_size)).kwargs(),
    }
    return values, kwargs, "image"


def verdict_colours(verdict: np.ndarray) -> list[str]:
    """Colour of each verdict (as the ``likelihood`` figure: blue, grey, vermilion)."""
    return [VERDICT_STYLE[str(v)] for v in verdict]


def verdict_layer(
    verdicts: FrameVerdicts, name: str, geometry: Geometry | None = None
) -> LayerData:
    """Every candidate column as a ring coloured by its verdict; the column table as features.

    Positions are in the frame's pixel coordinates (``row_px``, ``col_px``) placed by the
    frame's ``geometry`` (default: at the origin, in Å); the features are
    :meth:`FrameVerdicts.records` (verdicts, q-values, scores, likelihood ratios). Each ring is
    as wide as the region of the likelihood ratio (0.7 Å radius by default).
    """
    pixel = verdicts.candidates.pixel_size
    records = verdicts.records()
    data = np.asarray(verdicts.candidates.positions, dtype=np.float64).reshape(-1, 2) / pixel
    features = {key: [r[key] for r in records] for key in (records[0] if records else {})}
    diameter = 2.0 * verdicts.likelihood.radius / pixel
    kwargs = {
        "name": name,
        "features": features or {"verdict": np.array([], dtype=str)},
        "size": diameter,
        "face_color": "transparent",
        "border_color": verdict_colours(verdicts.verdict) or "white",
        "border_width": 0.12,
        "border_width_is_relative": True,
        "metadata": {
            METADATA_KEY: {
                "summary": verdicts.summary(),
                "counts": verdicts.counts(),
                "mode": verdicts.mode,
                "fdr": verdicts.fdr,
                "colours": {name: VERDICT_STYLE[name] for name in verdicts.verdict_names},
            }
        },
        **(geometry or Geometry.from_pixel_size(pixel)).kwargs(),
    }
    return data, kwargs, "points"


def filter_layer(
    result: PixelFilter,
    name: str,
    geometry: Geometry | None = None,
    half_width: float | None = None,
) -> LayerData:
    """The equivalent linear filter around the clicked pixel, drawn on the working grid.

    Parameters
    ----------
    result : PixelFilter
        From :func:`sbdenoise.analysis.pixel_filter.pixel_filter`.
    name : str
        Layer name.
    geometry : Geometry, optional
        Where the analysed frame lies in the viewer (default: at the origin, in Å).
    half_width : float, optional
        Half the side of the window shown, angstrom (default: 1.2 times the radius holding 99 %
        of the weight, at least 8 working pixels).

    Returns
    -------
    LayerData
        The weights of the window (dimensionless, positive red, negative blue), each working
        pixel drawn over the ``factor x factor`` input pixels it sums.
    """
    sampling = result.sampling
    reach = 1.2 * result.extent() if half_width is None else half_width
    rows, cols = result.window(max(8, int(np.ceil(reach / sampling))))
    weights = np.asarray(result.weights[rows, cols], dtype=np.float32)
    limit = float(np.max(np.abs(weights))) or 1.0
    frame = geometry or Geometry.from_pixel_size(result.pixel_size)
    kwargs = {
        "name": name,
        "colormap": "RdBu_r",
        "contrast_limits": (-limit, limit),
        "opacity": 0.7,
        **frame.binned(result.factor, (rows.start, cols.start)).kwargs(),
        "metadata": {
            METADATA_KEY: {
                "quantity": "equivalent linear filter d output / d counts (working grid)",
                "pixel": result.pixel,
                "output": result.output,
                "gain": result.gain,
                "uniform_response": result.uniform_response,
                "working_sampling_angstrom": sampling,
                "describe": result.describe(),
            }
        },
    }
    return weights, kwargs, "image"
