"""What is in a file: shape, dtype, calibration and whether the values are electron counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sbdenoise.io import Micrograph, read_image
from sbdenoise.noise.counts import CountsAssessment, assess_counts


@dataclass
class FileInfo:
    """Description of one image file.

    Attributes
    ----------
    micrograph : Micrograph
        The image as read.
    counts : CountsAssessment
        Whether the values look like electron counts.
    """

    micrograph: Micrograph
    counts: CountsAssessment

    def lines(self) -> list[tuple[str, str]]:
        """(field, value) pairs for printing."""
        mic = self.micrograph
        pixel = "unknown" if mic.pixel_size is None else f"{mic.pixel_size:.6g} Å"
        rows = [
            ("file", str(mic.source)),
            ("format", str(mic.metadata.get("format", mic.source.suffix if mic.source else "?"))),
            (
                "shape",
                " x ".join(str(s) for s in mic.data.shape)
                + (" (frames, y, x)" if mic.is_stack else " (y, x)"),
            ),
            ("dtype", str(mic.data.dtype)),
            ("pixel size", pixel),
            ("units as found", repr(mic.units_found) if mic.units_found is not None else "none"),
            ("values", self.counts.summary()),
        ]
        return rows


def describe_file(path: str | Path) -> FileInfo:
    """Read a file and assess its values.

    Parameters
    ----------
    path : str or Path
        Any supported image file.

    Returns
    -------
    FileInfo
    """
    micrograph = read_image(path)
    return FileInfo(micrograph, assess_counts(micrograph.data))
