"""The surface null: how significant a method's spurious surface candidates look (simulated truth).

Why
---
A candidate facing the vacuum is tested against vacuum (:mod:`~sbdenoise.analysis.calibration`):
"no column here" is taken to mean "vacuum counts here". One layer outside a particle that is not
true: the region of a candidate the network drew where the lattice would continue into the vacuum
(or on a fringe at the surface) holds the tails of the real columns beside it and the bright
Fresnel fringe of the defocused surface, so its counts reject vacuum without any column being
there. On held-out simulated surfaces a network trained on more data drew more such candidates
and 13.6 % of the surface candidates it called supported had no true column within 1 A
(``benchmarks/results/trust_surface_heldout_v9_plain.md``), against the 5 % promised.

What
----
The null that matters at a surface is the one of *spurious surface candidates*: candidates the
same method draws, by the same rule, on simulated frames with a known truth, facing the vacuum
and with no true column within :data:`SPURIOUS_DISTANCE_A`. Their p-values against vacuum,
collected per dose, make the table of this module; a surface candidate's vacuum p-value ``p`` is
then recalibrated to ``(1 + k) / (1 + N)``, ``k`` of the ``N`` spurious ones at or below ``p``:
the probability that a spurious surface candidate looks at least this significant. That is a
valid p-value under "no column within 1 A here" (for frames like the simulated ones), whatever the
network does, and the false discovery control of the surface class then holds against that null,
the one the verdict means. The price is power: a single surface column at 0.45 e-/px is
confirmed at about 2 sigma by one frame, and now has to beat the neighbours' tails too.

A table belongs to one method with one set of parameters and, for networks, one model file (by
weights): it is saved as a JSON file beside the model (:func:`sidecar_path`), and found there
(:func:`surface_null_for`). :func:`sbdenoise.analysis.surface_calibration.simulate_surface_null`
makes one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write

__all__ = [
    "REAL_DISTANCE_A",
    "SIDECAR_SUFFIX",
    "SPURIOUS_DISTANCE_A",
    "SurfaceNull",
    "SurfaceNullLevel",
    "method_fingerprint",
    "sidecar_of",
    "sidecar_path",
    "surface_null_for",
    "weights_digest",
]

#: A candidate with no true column within this distance is spurious, angstrom (the trust
#: benchmark's definition; a real candidate lies within 0.5 A).
SPURIOUS_DISTANCE_A = 1.0
#: A candidate with a true column within this distance is real, angstrom.
REAL_DISTANCE_A = 0.5
#: Suffix of the table file beside a model (``MODEL.surface-null.json``).
SIDECAR_SUFFIX = ".surface-null.json"
#: Version of the file format.
FORMAT_VERSION = 1
#: Fewest spurious candidates at a dose for its table to be used.
MIN_SPURIOUS = 50
#: Parameters that change how a method runs, not what it returns.
_RUN_ONLY = ("model", "device", "batch_size", "tile")


def weights_digest(network: Any) -> str:
    """SHA-256 of a network's weights: parameter and buffer names, shapes and float32 values.

    The same weights give the same digest whatever file they were saved in (a model installed
    with ``scripts/ship_model.py`` is re-saved with a new card).
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        values = tensor.detach().cpu().contiguous()
        if values.is_floating_point():
            values = values.float()
        digest.update(f"{name}:{tuple(values.shape)}:{values.dtype}".encode())
        digest.update(values.numpy().tobytes())
    return digest.hexdigest()


def method_fingerprint(prepared: Any) -> dict[str, Any]:
    """What makes a prepared method's output what it is: name, parameters, network weights.

    Parameters
    ----------
    prepared : sbdenoise.denoise.registry.PreparedMethod
        The method.

    Returns
    -------
    dict
        ``{"method": name, "params": {...}, "weights_sha256": hex or None}``; parameters that
        only change how the method runs (model path, device, batch size, tiling) are left out.
    """
    params = {
        key: value
        for key, value in sorted(prepared.params.items())
        if key not in _RUN_ONLY and value is not None
    }
    network = getattr(prepared, "network", None)
    digest = None if network is None else weights_digest(network)
    return {
        "method": prepared.name,
        "params": json.loads(json.dumps(params)),
        "weights_sha256": digest,
    }


@dataclass(frozen=True)
class SurfaceNullLevel:
    """Spurious surface candidates at one dose.

    Attributes
    ----------
    dose_per_area : float
        Dose of the simulated frames, electrons per square angstrom.
    p_values : numpy.ndarray
        Sorted vacuum p-values of the spurious surface candidates.
    frames : int
        Frames simulated at this dose.
    """

    dose_per_area: float
    p_values: np.ndarray
    frames: int

    @property
    def per_frame(self) -> float:
        """Spurious surface candidates the method draws per frame, on average."""
        return len(self.p_values) / max(self.frames, 1)


@dataclass(frozen=True)
class SurfaceNull:
    """The surface null of one method: spurious surface candidates' vacuum p-values per dose.

    Attributes
    ----------
    fingerprint : dict
        :func:`method_fingerprint` of the method the table was simulated with.
    levels : tuple of SurfaceNullLevel
        One per dose, in increasing dose.
    pixel_size : float
        Angstrom per pixel of the simulated frames.
    region : float
        Region radius of the calibrated test, angstrom.
    source : str
        The simulated frames (dataset and images), for the record.
    spurious_distance : float
        Spurious: no true column within this distance, angstrom.
    """

    fingerprint: dict[str, Any]
    levels: tuple[SurfaceNullLevel, ...]
    pixel_size: float
    region: float
    source: str
    spurious_distance: float = SPURIOUS_DISTANCE_A
    usable: tuple[SurfaceNullLevel, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        levels = tuple(sorted(self.levels, key=lambda level: level.dose_per_area))
        object.__setattr__(self, "levels", levels)
        usable = tuple(level for level in levels if len(level.p_values) >= MIN_SPURIOUS)
        object.__setattr__(self, "usable", usable)

    def level_for(self, dose_per_area: float) -> SurfaceNullLevel | None:
        """The level nearest to ``dose_per_area`` on a log scale (None: no usable level)."""
        if not self.usable:
            return None
        if not dose_per_area > 0:
            raise InputError(f"the dose must be positive (e-/A^2), got {dose_per_area}")
        doses = np.array([level.dose_per_area for level in self.usable])
        return self.usable[int(np.argmin(np.abs(np.log(doses / dose_per_area))))]

    def p_values(
        self, vacuum_p: np.ndarray, dose_per_area: float
    ) -> tuple[np.ndarray, SurfaceNullLevel | None]:
        """Recalibrate vacuum p-values of surface candidates against the spurious ones.

        Parameters
        ----------
        vacuum_p : numpy.ndarray
            p-values against vacuum (:mod:`~sbdenoise.analysis.calibration`); NaN stays NaN.
        dose_per_area : float
            The frame's dose, e-/A^2 (the nearest level is used).

        Returns
        -------
        p_values : numpy.ndarray
            ``max(p, (1 + k) / (1 + N))`` with ``k`` of the level's ``N`` spurious p-values at or
            below ``p``: valid under vacuum and under "no true column near here" alike.
        level : SurfaceNullLevel or None
            The level used (None, and ``vacuum_p`` unchanged, when no level is usable).
        """
        p = np.asarray(vacuum_p, dtype=np.float64)
        level = self.level_for(dose_per_area)
        if level is None:
            return p.copy(), None
        below = np.searchsorted(level.p_values, np.nan_to_num(p, nan=1.0), side="right")
        recalibrated = (1.0 + below) / (1.0 + len(level.p_values))
        return np.where(np.isnan(p), np.nan, np.maximum(p, recalibrated)), level

    def matches(self, prepared: Any) -> bool:
        """Whether this table was simulated with ``prepared`` (same parameters, same model)."""
        return method_fingerprint(prepared) == self.fingerprint

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON (atomically)."""
        document = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "pixel_size_A": self.pixel_size,
            "region_A": self.region,
            "spurious_distance_A": self.spurious_distance,
            "source": self.source,
            "levels": [
                {
                    "dose_e_per_A2": level.dose_per_area,
                    "frames": level.frames,
                    "p_values": [float(f"{p:.6g}") for p in level.p_values],
                }
                for level in self.levels
            ],
        }
        with atomic_write(Path(path)) as temporary:
            temporary.write_text(json.dumps(document, indent=1) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> SurfaceNull:
        """Read a table written by :meth:`save`.

        Raises
        ------
        InputError
            When the file is not such a table (unreadable, another format version, fields
            missing).
        """
        try:
            document = json.loads(Path(path).read_text())
            if document.get("format") != FORMAT_VERSION:
                raise InputError(
                    f"surface null format {document.get('format')!r}, this version reads "
                    f"{FORMAT_VERSION}",
                    path,
                )
            levels = tuple(
                SurfaceNullLevel(
                    dose_per_area=float(level["dose_e_per_A2"]),
                    p_values=np.sort(np.asarray(level["p_values"], dtype=np.float64)),
                    frames=int(level["frames"]),
                )
                for level in document["levels"]
            )
            return cls(
                fingerprint=document["fingerprint"],
                levels=levels,
                pixel_size=float(document["pixel_size_A"]),
                region=float(document["region_A"]),
                source=str(document["source"]),
                spurious_distance=float(document["spurious_distance_A"]),
            )
        except InputError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"not a readable surface null table: {error}", path) from error


def sidecar_path(model: str | Path, ensemble: int = 1) -> Path:
    """Where the surface null of a model file lives, beside it.

    Parameters
    ----------
    model : str or Path
        The model file (``MODEL.safetensors``).
    ensemble : int
        Symmetries the method averages over (``-p ensemble=N``): its output, and so its spurious
        surface candidates, differ from the plain network's, so each N has its own table.

    Returns
    -------
    Path
        ``MODEL.surface-null.json`` for the plain network, ``MODEL.ensemble-N.surface-null.json``
        otherwise.
    """
    model = Path(model)
    if ensemble < 1:
        raise InputError(f"ensemble must be a whole number >= 1, not {ensemble}")
    tag = "" if ensemble == 1 else f".ensemble-{ensemble}"
    return model.with_name(model.stem + tag + SIDECAR_SUFFIX)


def sidecar_of(prepared: Any) -> Path | None:
    """Where the surface null of a prepared method lives: :func:`sidecar_path` of its model file
    and its ``ensemble`` parameter (1 where it has none); None for a method without a model."""
    model = prepared.params.get("model")
    if model is None:
        return None
    return sidecar_path(str(model), int(prepared.params.get("ensemble") or 1))


def surface_null_for(prepared: Any) -> SurfaceNull | None:
    """The surface null beside the method's model file, if there is one made with this method.

    The table of the method's ``ensemble`` (:func:`sidecar_of`) is looked for; one made with
    another model file or other parameters is not used.
    """
    path = sidecar_of(prepared)
    if path is None or not path.is_file():
        return None
    table = SurfaceNull.load(path)
    return table if table.matches(prepared) else None
