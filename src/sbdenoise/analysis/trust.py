"""Verdicts on every candidate column of a denoised frame: calibrated, FDR-controlled, re-noised.

:func:`judge_frame` puts the pieces together:

1. every candidate (:func:`~sbdenoise.analysis.candidates.find_candidates`), faint ones included;
2. the papers' Poisson log-likelihood ratio of each candidate region against vacuum
   (:func:`~sbdenoise.analysis.likelihood.column_likelihood`);
3. a score of the counts under the column profile of the candidate's neighbours
   (:mod:`~sbdenoise.analysis.column_profiles`) and its p-value against "no column here": where
   the lattice around a candidate predicts its site, the column shape tested there (normal
   tail: nothing about the test was chosen by the candidate's own counts); elsewhere the counts
   against vacuum, calibrated on vacuum frames denoised by the same method at the frame's dose
   (:mod:`~sbdenoise.analysis.calibration`). Also a p-value that the counts are too few for the
   column the denoiser drew; q-values within the surface and the bulk candidates
   (:func:`fdr_classes`), the bulk's lattice sites a family of their own: the adaptive
   two-stage procedure there, whose p-values are exact (never a q-value below the candidate's
   own p-value), Benjamini-Hochberg elsewhere, each surface candidate's within its
   neighbourhood (:func:`class_q_values`);
4. optionally, how often each candidate reappears when the denoised frame is re-noised and
   denoised again (:mod:`~sbdenoise.analysis.bootstrap`).

Calibrated verdicts
-------------------
``supported``
    The counts reject "no column here" at the false discovery rate of the candidate's class
    (q <= ``fdr``): at a lattice site, no flat level explains their column shape; elsewhere,
    vacuum does not explain them, beyond what the method draws from noise in vacuum.
``contradicted``
    The counts favour vacuum (log-likelihood ratio below zero) and are significantly too few for
    the column the denoiser drew (q <= ``fdr``).
``not supported``
    Neither: the counts of this one frame cannot tell. At 0.45 e-/px one frame confirms a single
    surface Pt column with a power of only about 0.5-0.8 even for an oracle that knows the
    column's true profile; "not supported" is not "spurious". Frames of a series add evidence up
    (:func:`judge_series`).

With ``verdicts="thresholds"`` the papers' fixed thresholds on the log-likelihood ratio give
``real`` / ``uncertain`` / ``spurious`` instead (no calibration, no method needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage as ndi
from scipy import stats
from scipy.spatial import cKDTree

from sbdenoise.analysis.bootstrap import DEFAULT_MATCH_DISTANCE_A, Stability, bootstrap_stability
from sbdenoise.analysis.calibration import (
    MIN_NULL_CANDIDATES,
    NullTable,
    candidate_scores,
    null_table,
)
from sbdenoise.analysis.candidates import CandidateRule, Candidates, find_candidates
from sbdenoise.analysis.column_profiles import (
    DEFAULT_NEIGHBOURS,
    LATTICE_REACH_A,
    LATTICE_TOLERANCE_A,
    lattice_sites,
    shape_scores,
    template_scores,
)
from sbdenoise.analysis.columns import write_csv
from sbdenoise.analysis.likelihood import (
    DEFAULT_RADIUS_A,
    DEFAULT_REAL,
    DEFAULT_SPURIOUS,
    ColumnLikelihood,
    VacuumEstimate,
    column_likelihood,
)
from sbdenoise.analysis.surface import DEFAULT_ALPHA_A, alpha_shape
from sbdenoise.analysis.surface_null import SurfaceNull, surface_null_for
from sbdenoise.errors import InputError

__all__ = [
    "CALIBRATED_VERDICTS",
    "FrameVerdicts",
    "benjamini_hochberg",
    "class_q_values",
    "fdr_classes",
    "judge_frame",
    "judge_series",
    "neighbourhood_q_values",
    "surface_candidates",
    "two_stage_q_values",
]

#: Calibrated verdicts, in order of increasing support.
CALIBRATED_VERDICTS = ("contradicted", "not supported", "supported")
#: Default false discovery rate of "supported" (and of "contradicted").
DEFAULT_FDR = 0.05
#: A candidate nearer the flat vacuum than this faces it, angstrom: the disc a lattice site is
#: tested on reaches half-way to the next column (about 1.4 A in Pt [110]), and a candidate whose
#: disc holds vacuum is a surface candidate.
SURFACE_DEPTH_A = 1.5
#: Seed of the vacuum null (:func:`~sbdenoise.analysis.calibration.null_table`) of every
#: verdict: one table per method, dose and pixel size. A method that hardly draws candidates in
#: vacuum has a null of a few dozen candidates, whose tail moves with the seed; the surface null
#: (:mod:`.surface_null`) ranks vacuum p-values read from this table, and read from another
#: seed's the same spurious candidates looked up to twice as significant (held-out surface
#: images, ``benchmarks/results/surface_null_coverage_before_null_seed.md``; with this seed
#: throughout the tables hold, ``surface_null_coverage.md``).
NULL_SEED = 0
#: Radius of the neighbourhood within which a surface candidate's q-value is computed, angstrom.
#: The surface family of a frame holds the strong edge columns of the support beside the faint
#: candidates at a particle's surface, most of them drawn from noise; one Benjamini-Hochberg
#: threshold over both rises with the support's columns and lets noise at the particle pass
#: (held-out surface images: 1-3 % of the spurious particle-surface candidates supported, the
#: false discoveries all at the particle). Within 15 A, the part of a surface a user inspects,
#: the threshold follows the local mix (``benchmarks/results/trust_surface_heldout_nb_*.md``).
SURFACE_NEIGHBOURHOOD_A = 15.0
#: Default radius of the region whose counts test a candidate, angstrom (within its Voronoi cell:
#: on the demo frame 2 A confirmed 28 of 61 true columns, 0.7 A only 1; measured in
#: benchmarks/trust.py).
DEFAULT_REGION_A = 2.0

CSV_FIELDS = (
    "candidate",
    "y_A",
    "x_A",
    "row_px",
    "col_px",
    "verdict",
    "fdr_class",
    "lattice_site",
    "q_value",
    "p_value",
    "q_contradicted",
    "p_contradicted",
    "score",
    "likelihood_ratio",
    "threshold_verdict",
    "reappearance",
    "prominence",
    "column_rate",
    "count_mean",
    "n_pixels",
)


def benjamini_hochberg(p_values: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN entries stay NaN and do not count.

    With ``classes`` (one label per p-value) the procedure runs within each class separately, so
    the false discovery rate holds within every class (and over all of them), not only on
    average over the frame.
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    labels = np.zeros(p.shape, dtype=int) if classes is None else np.asarray(classes)
    for label in np.unique(labels):
        chosen = (labels == label) & np.isfinite(p)
        if chosen.any():
            q[chosen] = stats.false_discovery_control(p[chosen], method="bh")
    return q


def neighbourhood_q_values(
    p_values: np.ndarray, positions: np.ndarray, radius: float
) -> np.ndarray:
    """Each candidate's Benjamini-Hochberg q-value among the candidates within ``radius`` of it.

    Parameters
    ----------
    p_values : numpy.ndarray
        One p-value per candidate (NaN: not tested, and left out of every neighbourhood).
    positions : numpy.ndarray
        ``(n, 2)`` positions, angstrom.
    radius : float
        Neighbourhood radius, angstrom (the candidate itself included).

    Returns
    -------
    numpy.ndarray
        q-values (NaN where ``p_values`` is NaN). With every candidate within ``radius`` of every
        other, the plain Benjamini-Hochberg q-values.
    """
    p = np.asarray(p_values, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if len(p) != len(positions):
        raise InputError(f"{len(p)} p-values for {len(positions)} positions")
    q = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if len(tested) == 0:
        return q
    tree = cKDTree(positions[tested])
    for k, members in enumerate(tree.query_ball_point(positions[tested], radius)):
        members = np.asarray(members)
        local = benjamini_hochberg(p[tested[members]])
        q[tested[k]] = local[np.flatnonzero(members == k)[0]]
    return q


def two_stage_q_values(p_values: np.ndarray, level: float) -> np.ndarray:
    """q-values of the adaptive two-stage procedure of Benjamini, Krieger and Yekutieli (2006).

    Stage one runs Benjamini-Hochberg at ``level / (1 + level)`` and counts its ``r``
    rejections; the number of true null hypotheses is then estimated as ``m0 = m - r`` and stage
    two runs Benjamini-Hochberg at ``level / (1 + level) * m / m0``. Where most hypotheses are
    false (a crystal's columns), this rejects more than plain Benjamini-Hochberg at the same
    level; where almost all are true it is plain Benjamini-Hochberg at a slightly lower level.
    It controls the false discovery rate at ``level`` for independent p-values.

    Parameters
    ----------
    p_values : numpy.ndarray
        p-values of one family; NaN entries stay NaN and do not count.
    level : float
        False discovery rate the verdicts are taken at, in (0, 1). The q-values depend on it
        (through ``m0``): a q-value at or below ``level`` is a rejection of the procedure at
        ``level``, the only comparison they are made for.

    Returns
    -------
    numpy.ndarray
        ``min(1, q_BH * (1 + level) * m0 / m)`` with ``m0 = max(m - r, 1)``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    q_bh = benjamini_hochberg(p)
    finite = np.isfinite(q_bh)
    m = int(finite.sum())
    if m == 0:
        return q_bh
    first_stage = level / (1.0 + level)
    rejected = int(np.sum(q_bh[finite] <= first_stage))
    null_count = max(m - rejected, 1)
    return np.minimum(q_bh * (1.0 + level) * null_count / m, 1.0)


#: Where the adaptive two-stage procedure replaces plain Benjamini-Hochberg: "lattice" (default:
#: the bulk candidates tested at lattice sites, a family of their own, whose p-values are exact
#: normal tails; the surface and the other bulk candidates, whose vacuum null only approximates
#: an empty site, keep the conservative BH), "all" families, or "none".
ADAPTIVE_CHOICES = ("lattice", "all", "none")
#: FDR family of the bulk candidates tested at lattice sites (see :func:`judge_frame`).
LATTICE_FAMILY = "lattice"


def class_q_values(
    p_values: np.ndarray,
    classes: np.ndarray | None,
    level: float,
    adaptive: Literal["lattice", "all", "none"] = "lattice",
    positions: np.ndarray | None = None,
    neighbourhood: float = 0.0,
) -> np.ndarray:
    """q-values within each FDR class, adaptive (:func:`two_stage_q_values`) where chosen.

    Parameters
    ----------
    p_values : numpy.ndarray
        One p-value per candidate (NaN: not tested).
    classes : numpy.ndarray or None
        Class of each candidate (:func:`fdr_classes`); None: one class.
    level : float
        The false discovery rate the q-values will be compared with.
    adaptive : {"lattice", "all", "none"}
        Classes that use the adaptive procedure (see :data:`ADAPTIVE_CHOICES`); their q-values
        are never below the candidate's own p-value, so a candidate "supported" at level
        ``fdr`` is always significant at ``fdr`` on its own counts too.
    positions : numpy.ndarray, optional
        ``(n, 2)`` candidate positions, angstrom (needed for ``neighbourhood``).
    neighbourhood : float
        Radius within which each candidate of the ``"surface"`` class gets its q-value
        (:func:`neighbourhood_q_values`, see :data:`SURFACE_NEIGHBOURHOOD_A`), angstrom; 0: the
        whole class at once.
    """
    if adaptive not in ADAPTIVE_CHOICES:
        raise InputError(f"adaptive must be one of {ADAPTIVE_CHOICES}, got {adaptive!r}")
    if not neighbourhood >= 0:
        raise InputError(f"the neighbourhood radius must be >= 0 (angstrom), got {neighbourhood}")
    p = np.asarray(p_values, dtype=np.float64)
    if positions is not None:
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    labels = np.full(p.shape, "frame") if classes is None else np.asarray(classes)
    q = np.full(p.shape, np.nan)
    for label in np.unique(labels):
        chosen = labels == label
        if adaptive == "all" or (adaptive == "lattice" and label == LATTICE_FAMILY):
            # never below the candidate's own p-value: where stage one rejects all but one
            # candidate, the two-stage procedure rejects the last whatever its p (0.98 is
            # "supported" in a family of 21), a false discovery the FDR allows and users do not
            q[chosen] = np.maximum(two_stage_q_values(p[chosen], level), p[chosen])
        elif label == "surface" and neighbourhood > 0 and positions is not None:
            q[chosen] = neighbourhood_q_values(p[chosen], positions[chosen], neighbourhood)
        else:
            q[chosen] = benjamini_hochberg(p[chosen])
    return q


def surface_candidates(
    positions: np.ndarray,
    shape: tuple[int, int],
    pixel_size: float,
    vacuum_mask: np.ndarray | None = None,
    alpha: float = DEFAULT_ALPHA_A,
    depth: float = SURFACE_DEPTH_A,
) -> np.ndarray:
    """Which candidates face the vacuum: on the alpha shape's boundary, or near the flat vacuum.

    The boundary of the alpha shape of all candidates (isolated ones included) is the surface
    when the candidates stop where the specimen stops. A denoiser that draws a fringe of blobs
    around a particle, or continues its lattice a layer into the vacuum, moves that boundary
    outwards and hides the real surface inside it; so a candidate less than ``depth`` angstrom
    from the vacuum region (``vacuum_mask``, the flat region the vacuum rate was measured on) is
    a surface candidate too.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` candidate positions, angstrom.
    shape : tuple of int
        Frame shape, pixels.
    pixel_size : float
        Angstrom per pixel.
    vacuum_mask : numpy.ndarray, optional
        Boolean image of the vacuum region (None: the alpha shape alone).
    alpha, depth : float
        Alpha radius of the shape, and the distance from the vacuum region within which a
        candidate faces it, angstrom.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` boolean.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if len(positions) == 0:
        return np.zeros(0, dtype=bool)
    surface = alpha_shape(positions, alpha, shape=shape, pixel_size=pixel_size).surface
    if vacuum_mask is not None and np.any(vacuum_mask):
        distance = ndi.distance_transform_edt(~np.asarray(vacuum_mask, dtype=bool)) * pixel_size
        pixel = np.clip(np.rint(positions / pixel_size).astype(np.intp), 0, np.array(shape) - 1)
        surface = surface | (distance[pixel[:, 0], pixel[:, 1]] < depth)
    return np.asarray(surface, dtype=bool)


def fdr_classes(
    positions: np.ndarray,
    shape: tuple[int, int],
    pixel_size: float,
    mode: Literal["surface", "frame"] = "surface",
    alpha: float = DEFAULT_ALPHA_A,
    vacuum_mask: np.ndarray | None = None,
) -> np.ndarray:
    """The class within which each candidate's false discovery rate is controlled.

    ``"surface"``: candidates facing the vacuum (:func:`surface_candidates`) form one class, the
    others ``"bulk"``. A frame's many strong bulk columns would otherwise let the
    Benjamini-Hochberg threshold rise until a few noise blobs in vacuum, or a column invented a
    layer out, pass with them: the false discoveries then all sit at the surface, the place
    users look. ``"frame"``: one class.
    """
    if mode not in ("surface", "frame"):
        raise InputError(f"fdr classes must be 'surface' or 'frame', got {mode!r}")
    if mode == "frame" or len(positions) == 0:
        return np.full(len(positions), "frame", dtype="<U7")
    surface = surface_candidates(positions, shape, pixel_size, vacuum_mask, alpha)
    return np.where(surface, "surface", "bulk").astype("<U7")


@dataclass(frozen=True)
class FrameVerdicts:
    """Every candidate of one frame with its evidence and verdict.

    Attributes
    ----------
    candidates : Candidates
        Positions (angstrom), heights and prominences.
    likelihood : ColumnLikelihood
        The papers' log-likelihood ratios (and their threshold verdicts) of the candidates.
    score : numpy.ndarray
        ``z`` of each region's counts against vacuum, under the column profile of ``profile``.
    p_value, q_value : numpy.ndarray
        Calibrated p-value against vacuum and its BH q-value (NaN with threshold verdicts).
    p_contradicted, q_contradicted : numpy.ndarray
        p-value that the counts are too few for the denoiser's column, and its q-value.
    verdict : numpy.ndarray
        Calibrated verdicts, or the threshold ones with ``mode == "thresholds"``.
    mode : str
        ``"calibrated"`` or ``"thresholds"``.
    fdr : float
        False discovery rate the q-values are compared with.
    null : NullTable or None
        The null distribution used.
    stability : Stability or None
        Bootstrap result, when asked for.
    method : str
        Name of the denoiser that was calibrated (empty with thresholds).
    notes : list of str
        What the calibration used.
    fdr_class : numpy.ndarray or None
        The family within which each candidate's FDR is controlled: ``"surface"`` / ``"bulk"``
        (:func:`fdr_classes`), ``"lattice"`` for the bulk candidates tested at lattice sites
        (``profile="lattice"``), or ``"frame"``.
    profile : str
        ``"lattice"``, ``"neighbours"`` or ``"own"`` (see :func:`judge_frame`).
    lattice_site : numpy.ndarray or None
        With ``profile="lattice"``: whether two rows of neighbours predict the candidate's site
        (then its column shape is tested there, p-value from the normal tail).
    """

    candidates: Candidates
    likelihood: ColumnLikelihood
    score: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    p_contradicted: np.ndarray
    q_contradicted: np.ndarray
    verdict: np.ndarray
    mode: str
    fdr: float
    null: NullTable | None = None
    stability: Stability | None = None
    method: str = ""
    notes: list[str] = field(default_factory=list)
    fdr_class: np.ndarray | None = None
    profile: str = "neighbours"
    lattice_site: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.verdict)

    @property
    def vacuum(self) -> VacuumEstimate:
        """The vacuum rate used."""
        return self.likelihood.vacuum

    @property
    def verdict_names(self) -> tuple[str, ...]:
        """The verdicts this mode gives, in order of increasing support."""
        if self.mode == "calibrated":
            return CALIBRATED_VERDICTS
        return ("spurious", "uncertain", "real")

    def counts(self) -> dict[str, int]:
        """Number of candidates per verdict."""
        return {name: int(np.sum(self.verdict == name)) for name in self.verdict_names}

    def records(self) -> list[dict[str, Any]]:
        """One dict per candidate (``pandas.DataFrame(result.records())`` gives the table).

        Keys: see :data:`CSV_FIELDS`; positions in angstrom and pixels, ``reappearance`` NaN
        without a bootstrap.
        """
        pixel = self.candidates.pixel_size
        reappear = (
            self.stability.reappearance
            if self.stability is not None
            else np.full(len(self), np.nan)
        )
        rows = []
        for i, position in enumerate(self.candidates.positions):
            rows.append(
                {
                    "candidate": i,
                    "y_A": float(position[0]),
                    "x_A": float(position[1]),
                    "row_px": float(position[0] / pixel),
                    "col_px": float(position[1] / pixel),
                    "verdict": str(self.verdict[i]),
                    "fdr_class": "" if self.fdr_class is None else str(self.fdr_class[i]),
                    "lattice_site": "" if self.lattice_site is None else int(self.lattice_site[i]),
                    "q_value": float(self.q_value[i]),
                    "p_value": float(self.p_value[i]),
                    "q_contradicted": float(self.q_contradicted[i]),
                    "p_contradicted": float(self.p_contradicted[i]),
                    "score": float(self.score[i]),
                    "likelihood_ratio": float(self.likelihood.values[i]),
                    "threshold_verdict": str(self.likelihood.verdict[i]),
                    "reappearance": float(reappear[i]),
                    "prominence": float(self.candidates.prominence[i]),
                    "column_rate": float(self.likelihood.column_rate[i]),
                    "count_mean": float(self.likelihood.count_mean[i]),
                    "n_pixels": int(self.likelihood.n_pixels[i]),
                }
            )
        return rows

    def write_csv(self, path: str | Path) -> Path:
        """Write :meth:`records` as CSV (atomically)."""
        return write_csv(path, self.records(), CSV_FIELDS)

    def summary(self) -> str:
        """One line: candidates per verdict, the FDR and the vacuum rate."""
        tally = ", ".join(f"{n} {name}" for name, n in reversed(self.counts().items()))
        how = (
            f"calibrated on {self.method} in simulated vacuum, FDR {self.fdr:g}"
            if self.mode == "calibrated"
            else "the papers' fixed thresholds"
        )
        return (
            f"{len(self)} candidates: {tally} ({how}; vacuum {self.vacuum.rate:.4g} e-/px, "
            f"{self.vacuum.source})"
        )


def _prepared(method: Any, params: Mapping[str, Any] | None, model: str | Path | None) -> Any:
    """A prepared registry method from a name (or one already prepared)."""
    from sbdenoise.denoise.registry import PreparedMethod, prepare

    if isinstance(method, PreparedMethod):
        return method
    return prepare(str(method), params, model=model)


def _surface_null(choice: SurfaceNull | str | Path | None, prepared: Any) -> SurfaceNull | None:
    """The surface null ``judge_frame`` was asked for (see its ``surface_null``)."""
    if choice is None or isinstance(choice, SurfaceNull):
        return choice
    if isinstance(choice, str) and choice == "auto":
        return surface_null_for(prepared)
    table = SurfaceNull.load(choice)
    if not table.matches(prepared):
        made = table.fingerprint
        raise InputError(
            f"this surface null was made with {made['method']!r}, parameters {made['params']} "
            f"and weights {str(made.get('weights_sha256'))[:12]}, not with the method that "
            "denoised the frame",
            choice,
        )
    return table


def _against_surface_null(
    p_value: np.ndarray,
    facing: np.ndarray,
    dose_per_area: float,
    table: SurfaceNull | None,
    notes: list[str],
) -> np.ndarray:
    """Surface candidates' p-values recalibrated against the surface null (note in ``notes``)."""
    if not facing.any():
        return p_value
    if table is None:
        notes.append(
            f"no usable surface null: the {int(facing.sum())} candidates facing the vacuum are "
            "tested against vacuum only, which a lattice continued into the vacuum (or a surface "
            "fringe) passes too; make one with 'sbdenoise surface-null' (with the same "
            "-p ensemble=N as the denoising)"
        )
        return p_value
    surface_p, level = table.p_values(p_value[facing], dose_per_area)
    if level is None:
        notes.append("the surface null holds too few spurious candidates: vacuum only")
        return p_value
    notes.append(
        f"{int(facing.sum())} candidates facing the vacuum also against {len(level.p_values)} "
        f"spurious surface candidates of the same method on {level.frames} simulated frames at "
        f"{level.dose_per_area:.3g} e-/A^2 (frame: {dose_per_area:.3g})"
    )
    adjusted = p_value.copy()
    adjusted[facing] = surface_p
    return adjusted


def calibrated_verdicts(
    p_value: np.ndarray,
    p_contradicted: np.ndarray,
    likelihood_ratio: np.ndarray,
    fdr: float,
    classes: np.ndarray | None = None,
    adaptive: Literal["lattice", "all", "none"] = "lattice",
    positions: np.ndarray | None = None,
    neighbourhood: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q-values of both tests and the verdict of each candidate (see the module notes).

    ``classes`` (see :func:`fdr_classes`) makes the q-values per class; ``adaptive`` chooses
    the classes whose "supported" q-values come from the adaptive two-stage procedure, and
    ``positions`` with ``neighbourhood`` (angstrom) gives each surface candidate the q-value of
    its neighbourhood (:func:`class_q_values`). "Contradicted" always uses Benjamini-Hochberg.

    Returns
    -------
    q_value, q_contradicted, verdict : numpy.ndarray
    """
    q_value = class_q_values(p_value, classes, fdr, adaptive, positions, neighbourhood)
    q_contradicted = benjamini_hochberg(p_contradicted, classes)
    verdict = np.full(len(q_value), "not supported", dtype="<U13")
    with np.errstate(invalid="ignore"):
        contradicted = (q_contradicted <= fdr) & (np.asarray(likelihood_ratio) < 0)
        verdict[contradicted] = "contradicted"
        verdict[q_value <= fdr] = "supported"
    return q_value, q_contradicted, verdict


def judge_frame(
    noisy: np.ndarray,
    denoised: np.ndarray,
    pixel_size: float,
    *,
    method: Any = "sbd",
    params: Mapping[str, Any] | None = None,
    model: str | Path | None = None,
    vacuum_rate: float | None = None,
    radius: float = DEFAULT_RADIUS_A,
    region: float = DEFAULT_REGION_A,
    fdr: float = DEFAULT_FDR,
    verdicts: Literal["calibrated", "thresholds"] = "calibrated",
    real: float = DEFAULT_REAL,
    spurious: float = DEFAULT_SPURIOUS,
    rule: CandidateRule | None = None,
    profile: Literal["lattice", "neighbours", "own"] = "lattice",
    neighbours: int = DEFAULT_NEIGHBOURS,
    classes: Literal["surface", "frame"] = "surface",
    adaptive: Literal["lattice", "all", "none"] = "lattice",
    neighbourhood: float = SURFACE_NEIGHBOURHOOD_A,
    bootstrap: int = 0,
    match_distance: float = DEFAULT_MATCH_DISTANCE_A,
    seed: int = 0,
    cache: Path | bool | None = True,
    show_progress: bool = True,
    surface_null: SurfaceNull | str | Path | None = "auto",
) -> FrameVerdicts:
    """Judge every candidate column of a denoised frame against the noisy counts.

    Parameters
    ----------
    noisy : numpy.ndarray
        ``(y, x)`` noisy frame, electron counts.
    denoised : numpy.ndarray
        The same frame denoised, e-/px.
    pixel_size : float
        Angstrom per pixel.
    method : str or PreparedMethod
        The registry method that made ``denoised`` (its null is simulated; the bootstrap reruns
        it). Not needed with ``verdicts="thresholds"`` and no bootstrap.
    params : Mapping, optional
        The method's parameters (those it denoised the frame with).
    model : str or Path, optional
        Model file of ``sbd`` (default: the shipped one).
    vacuum_rate : float, optional
        Vacuum rate, e-/px (default: estimated from the frame).
    radius : float
        Region radius of the papers' log-likelihood ratio, angstrom.
    region : float
        Radius of the region (within the candidate's Voronoi cell) whose counts give the
        calibrated score, angstrom.
    fdr : float
        False discovery rate of the calibrated verdicts, in (0, 1).
    verdicts : {"calibrated", "thresholds"}
        Calibrated verdicts, or the papers' fixed thresholds ``real`` and ``spurious``
        (nats per pixel) for comparison.
    real, spurious : float
        The papers' thresholds (always reported as ``threshold_verdict``).
    rule : CandidateRule, optional
        How candidates are found.
    profile : {"lattice", "neighbours", "own"}
        The column profile each candidate's counts are tested against, and where:

        - ``"lattice"`` (default): a candidate that does not face the vacuum
          (:func:`surface_candidates`) and through which two rows of other candidates cross
          (:func:`~sbdenoise.analysis.column_profiles.lattice_sites`) is tested at the site
          they predict, for the column shape of its neighbours' mean profile given its total
          counts (:func:`~sbdenoise.analysis.column_profiles.shape_scores`). Neither the
          template, nor the place, nor the flat level the shape is tested against comes from
          its own counts, so the score is about standard normal under "no column here" and its
          p-value is the normal tail. Tested against vacuum instead, an empty site lit by its
          neighbours' fringes passes; tested beside the vacuum, where the network draws fringes
          and continues lattices, the shape test passed too many (surface FDR 9.9 % on held-out
          images, ``benchmarks/results/trust_surface_heldout_a_first_design.md``). Every other
          candidate (the surface, lone columns, blobs in vacuum) is tested as with
          ``"neighbours"``.
        - ``"neighbours"``: the same template at the candidate's own maximum, every p-value from
          the vacuum null (which then also carries the selection of the place).
        - ``"own"``: the denoised profile at the candidate itself (the denoiser's own drawing,
          fitted to these counts), p-values from the vacuum null.
    neighbours : int
        Candidates whose mean profile makes a template.
    classes : {"surface", "frame"}
        False discovery control within the surface and the bulk candidates separately
        (default), or over the whole frame at once (:func:`fdr_classes`).
    adaptive : {"lattice", "all", "none"}
        Where the "supported" q-values come from the adaptive two-stage procedure
        (:func:`two_stage_q_values`), which estimates how many candidates are not columns and
        so confirms more columns of a crystal at the same false discovery rate. Default
        ``"lattice"``: the bulk candidates tested at lattice sites form an FDR family of their
        own (``fdr_class`` "lattice"), whose p-values are exact normal tails, and use it; the
        surface and the other bulk candidates keep plain Benjamini-Hochberg (their vacuum null
        only approximates an empty site). ``"all"``: every family; ``"none"``:
        Benjamini-Hochberg everywhere, as before 2026-12-03.
    neighbourhood : float
        With ``classes="surface"``: each surface candidate's q-value comes from the surface
        candidates within this radius of it (:data:`SURFACE_NEIGHBOURHOOD_A`), angstrom; 0:
        one threshold for the whole surface of the frame, as before 2026-12-03.
    bootstrap : int
        Re-noised draws for the stability of each candidate (0: none).
    match_distance : float
        Reappearance distance of the bootstrap, angstrom.
    seed : int
        Seed of the bootstrap. The vacuum null is simulated with :data:`NULL_SEED` whatever
        ``seed`` is.
    cache : Path, bool or None
        Null-table cache (True: the machine's; False/None: none).
    show_progress : bool
        Progress bars for the null simulation and the bootstrap.
    surface_null : SurfaceNull, path, "auto" or None
        The null of the method's spurious surface candidates (:mod:`.surface_null`): each
        candidate facing the vacuum (not at a lattice site) must then also beat what spurious
        surface candidates of the same method score on simulated frames at this dose, not only
        vacuum. ``"auto"`` (default): the table beside the method's model file, when it was made
        with this method and parameters; None: vacuum only (the notes say so).

    Returns
    -------
    FrameVerdicts
    """
    if verdicts not in ("calibrated", "thresholds"):
        raise InputError(f"verdicts must be 'calibrated' or 'thresholds', got {verdicts!r}")
    if not 0 < fdr < 1:
        raise InputError(f"the false discovery rate must lie in (0, 1), got {fdr}")
    if adaptive not in ADAPTIVE_CHOICES:
        raise InputError(f"adaptive must be one of {ADAPTIVE_CHOICES}, got {adaptive!r}")
    rule = rule or CandidateRule()
    found = find_candidates(denoised, pixel_size, rule)
    likelihood = column_likelihood(
        noisy,
        denoised,
        found.positions,
        pixel_size,
        vacuum_rate,
        radius=radius,
        real=real,
        spurious=spurious,
    )
    counts = np.asarray(noisy, dtype=np.float64)
    # the counts of each 0.7 A region, as the likelihood ratio already summed them
    n_pixels = likelihood.n_pixels
    sums = np.rint(np.nan_to_num(likelihood.count_mean) * n_pixels)
    v = likelihood.vacuum.rate
    if not region > 0:
        raise InputError(f"the region radius must be positive (angstrom), got {region}")
    if profile not in ("lattice", "neighbours", "own"):
        raise InputError(f"profile must be 'lattice', 'neighbours' or 'own', got {profile!r}")
    positions_px = found.positions / pixel_size
    vacuum_mask = likelihood.vacuum.mask
    grouping = fdr_classes(
        found.positions, counts.shape, pixel_size, classes, vacuum_mask=vacuum_mask
    )
    weights, on_site = None, None
    facing = (
        grouping == "surface"
        if classes == "surface"
        else surface_candidates(found.positions, counts.shape, pixel_size, vacuum_mask)
    )
    if profile == "own":
        score = candidate_scores(counts, denoised, positions_px, region / pixel_size, v)
    else:
        if profile == "lattice":
            sites, predicted = lattice_sites(
                positions_px, LATTICE_REACH_A / pixel_size, LATTICE_TOLERANCE_A / pixel_size
            )
            on_site = predicted & ~facing
            positions_px = np.where(on_site[:, None], sites, positions_px)
            if classes == "surface":
                grouping = np.where(on_site, LATTICE_FAMILY, grouping).astype(grouping.dtype)
        score, weights = template_scores(
            counts, denoised, positions_px, region / pixel_size, v, neighbours
        )
        if on_site is not None and on_site.any():
            score[on_site] = shape_scores(
                counts, denoised, positions_px, region / pixel_size, v, neighbours, weights
            )[on_site]
    expected = n_pixels * np.maximum(likelihood.column_rate, 0.0)
    with np.errstate(invalid="ignore"):
        p_contradicted = np.where(
            n_pixels > 0, stats.poisson.cdf(sums, np.maximum(expected, 1e-12)), np.nan
        )
    nan = np.full(len(found), np.nan)
    prepared = None
    if verdicts == "calibrated" or bootstrap > 0:
        prepared = _prepared(method, params, model)
    null = None
    notes: list[str] = []
    if verdicts == "calibrated":
        null = null_table(
            prepared,
            dose=v,
            pixel_size=pixel_size,
            radius=region,
            rule=rule,
            seed=NULL_SEED,
            cache=cache,
            show_progress=show_progress,
        )
        p_value = null.p_values(score) if weights is None else null.p_values_for(score, weights)
        if on_site is not None:
            p_value = np.where(on_site, stats.norm.sf(score), p_value)
            notes.append(
                f"{int(on_site.sum())} of {len(found)} candidates at lattice sites (column shape "
                "at the site their neighbours predict, normal tail); the others against the null"
            )
        table = _surface_null(surface_null, prepared)
        if table is not None and (profile == "own" or abs(table.region - region) > 1e-6):
            notes.append(
                f"the surface null was made for the neighbours' template in a {table.region:g} A "
                f"region, not for profile {profile!r} in {region:g} A: not used"
            )
            table = None
        p_value = _against_surface_null(
            p_value, facing if on_site is None else facing & ~on_site, v / pixel_size**2,
            table, notes,
        )  # fmt: skip
        q_value, q_contradicted, verdict = calibrated_verdicts(
            p_value, p_contradicted, likelihood.values, fdr, grouping, adaptive,
            found.positions, neighbourhood,
        )  # fmt: skip
        if neighbourhood > 0 and np.any(grouping == "surface"):
            notes.append(
                f"surface candidates' q-values within {neighbourhood:g} A of each (the support's "
                "edge does not lower the bar at the particle)"
            )
        notes.append(
            f"null: {len(null.scores)} candidates in {null.frames} simulated vacuum frames "
            f"({null.candidates_per_frame:.1f} per frame) at {null.dose:.4g} e-/px"
            + (
                ""
                if null.empirical
                else f"; fewer than {MIN_NULL_CANDIDATES}: the method hardly draws candidates in "
                "vacuum, p-values from the score's standard normal tail"
            )
        )
    else:
        p_value, q_value = nan, nan.copy()
        q_contradicted = benjamini_hochberg(p_contradicted, grouping)
        verdict = likelihood.verdict
    stability = None
    if bootstrap > 0:

        def again(frame: np.ndarray) -> np.ndarray:
            return prepared.denoise_frame(frame, pixel_size)

        stability = bootstrap_stability(
            denoised,
            pixel_size,
            again,
            found.positions,
            draws=bootstrap,
            rule=rule,
            match_distance=match_distance,
            seed=seed,
            show_progress=show_progress,
        )
    return FrameVerdicts(
        candidates=found,
        likelihood=likelihood,
        score=score,
        p_value=p_value,
        q_value=q_value,
        p_contradicted=p_contradicted,
        q_contradicted=q_contradicted,
        verdict=verdict,
        mode=verdicts,
        fdr=float(fdr),
        null=null,
        stability=stability,
        method="" if prepared is None else prepared.name,
        notes=notes,
        fdr_class=grouping,
        profile=profile,
        lattice_site=on_site,
    )


def judge_series(
    frames: Sequence[np.ndarray] | np.ndarray,
    profile: np.ndarray,
    positions: np.ndarray,
    pixel_size: float,
    vacuum_rate: float,
    *,
    region: float = DEFAULT_REGION_A,
    fdr: float = DEFAULT_FDR,
) -> tuple[np.ndarray, np.ndarray]:
    """Evidence for fixed candidates summed over the frames of an aligned series.

    The score of :func:`~sbdenoise.analysis.calibration.candidate_scores` on the summed counts
    (profile ``T d``, vacuum ``T v`` for ``T`` frames): the log-likelihood ratios of the frames
    add up, and so does the evidence. When the positions and the profile were chosen without
    these frames (for example from the denoised first frame, the others then tested) there is no
    selection and the score is standard normal under vacuum; one frame confirms a surface column
    at about 2 sigma, ``T`` frames at about ``2 sqrt(T)`` sigma.

    Parameters
    ----------
    frames : sequence of numpy.ndarray
        Aligned ``(y, x)`` count frames, not used to choose ``positions`` or ``profile``.
    profile : numpy.ndarray
        ``(y, x)`` expected counts per frame under "columns here" (a denoised frame), e-/px.
    positions : numpy.ndarray
        ``(n, 2)`` candidate positions, angstrom.
    pixel_size, vacuum_rate : float
        Angstrom per pixel; vacuum rate per frame, e-/px.
    region : float
        Region radius (within each candidate's Voronoi cell), angstrom.
    fdr : float
        False discovery rate.

    Returns
    -------
    q_value, supported : numpy.ndarray
        BH q-values of the combined evidence against vacuum, and whether each is ``<= fdr``.
    """
    stack = [np.asarray(frame, dtype=np.float64) for frame in frames]
    if not stack:
        raise InputError("a series needs at least one frame")
    total = np.sum(stack, axis=0)
    count = len(stack)
    score = candidate_scores(
        total,
        count * np.asarray(profile, dtype=np.float64),
        np.asarray(positions, dtype=np.float64).reshape(-1, 2) / pixel_size,
        region / pixel_size,
        count * float(vacuum_rate),
    )
    q = benjamini_hochberg(stats.norm.sf(score))
    with np.errstate(invalid="ignore"):
        return q, q <= fdr
