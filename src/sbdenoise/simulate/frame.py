"""One noise-free HRTEM frame of one Pt/CeO2 structure, without a dataset folder."""

from __future__ import annotations

from sbdenoise.config import DatasetSpec
from sbdenoise.errors import InputError
from sbdenoise.simulate.plan import ImageTask, StructureTask
from sbdenoise.simulate.runner import structure_images
from sbdenoise.simulate.store import ImageRecord
from sbdenoise.specimen.model import StructureParams


def simulate_frame(
    structure: StructureParams,
    spec: DatasetSpec,
    defocus_nm: float,
    dose: float | None = None,
) -> ImageRecord:
    """Simulate one clean frame with the optics, detector and grid of ``spec``.

    Parameters
    ----------
    structure : StructureParams
        The atomic model (particle size, defect, support thickness, tilt, seed).
    spec : DatasetSpec
        Optics, simulation grid, specimen cell and crop size (``image_size`` px); its nuisance
        ranges are not drawn: the frame uses the spec's fixed focal spread, vibration and
        pixel size.
    defocus_nm : float
        Defocus, nm (abTEM sign: negative is overfocus).
    dose : float, optional
        Vacuum dose, e-/px (default: the spec's detector dose).

    Returns
    -------
    ImageRecord
        Expected counts per detector pixel (float32), parameters and column truth (Å).
    """
    dose = spec.detector.dose if dose is None else float(dose)
    if not dose > 0:
        raise InputError(f"dose must be positive, got {dose} e-/px")
    image = ImageTask(
        index=0,
        defocus_nm=float(defocus_nm),
        focal_spread_nm=spec.optics.focal_spread_nm,
        vibration_pm=spec.optics.vibration_pm,
        dose=dose,
        pixel_size=spec.detector.pixel_size,
    )
    return next(structure_images(StructureTask(structure, "demo", (image,)), spec))
