"""Normalisation of length calibrations to angstrom.

Microscope files store their pixel size as a number and a unit string, and the unit strings
vary from one vendor to the next: ``nm`` (Gatan, Velox, TIA), ``n_m`` (Berkeley EMD), ``µm`` or
``μm`` (two different code points), ``micron`` (ImageJ), ``\\u00B5m`` (ImageJ's escaped form) and,
in TIFF files exported on Japanese Windows, the Shift-JIS micro sign decoded as Windows-1252
(``ƒÊm``). This module maps all of them to angstrom, and says "unknown" (None) for placeholders
and pixel units rather than guessing.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["ANGSTROM_PER_UNIT", "angstrom_per_unit", "is_unitless", "length_to_angstrom"]

#: Angstrom per unit, keyed by the canonical (lower-case, ASCII) unit name.
ANGSTROM_PER_UNIT: dict[str, float] = {
    "m": 1e10,
    "cm": 1e8,
    "mm": 1e7,
    "um": 1e4,
    "nm": 10.0,
    "a": 1.0,
    "pm": 1e-2,
}

# Spellings that mean "no physical length": the axis is in pixels or uncalibrated.
_UNITLESS = frozenset(
    {
        "",
        "<undefined>",
        "undefined",
        "none",
        "null",
        "unknown",
        "px",
        "pix",
        "pixel",
        "pixels",
        "1",
        "a.u.",
        "au",
        "arb.units",
    }
)

# Micro signs as they appear in files: the two Unicode code points, the UTF-8 bytes of each read
# as Windows-1252 or Latin-1, and the Shift-JIS micro (0x83 0xCA) read as Windows-1252 or Latin-1.
_MICRO_PREFIXES = (
    "\u00b5",  # MICRO SIGN
    "\u03bc",  # GREEK SMALL LETTER MU
    "\u00c2\u00b5",  # UTF-8 of U+00B5 read as cp1252 / latin-1
    "\u00ce\u00bc",  # UTF-8 of U+03BC read as cp1252 / latin-1
    "\u0192\u00ca",  # Shift-JIS mu read as cp1252 (JEOL / DM TIFF tags)
    "\u0083\u00ca",  # Shift-JIS mu read as latin-1
)

_ANGSTROM_SIGNS = ("\u00c5", "\u212b", "\u00c3\u2026")  # Å, ANGSTROM SIGN, UTF-8 Å read as cp1252

# Full words, after lower-casing and removing spaces, underscores and a trailing "s".
_WORDS = {
    "meter": "m",
    "metre": "m",
    "centimeter": "cm",
    "centimetre": "cm",
    "millimeter": "mm",
    "millimetre": "mm",
    "micrometer": "um",
    "micrometre": "um",
    "micron": "um",
    "nanometer": "nm",
    "nanometre": "nm",
    "picometer": "pm",
    "picometre": "pm",
    "angstrom": "a",
    "ångström": "a",
    "ångstrom": "a",
    "angström": "a",
    "ang": "a",
}


def _canonical_unit(unit: str) -> str:
    """Return a lower-case, ASCII spelling of ``unit`` (not necessarily a known one)."""
    text = unit.replace("\x00", "").strip()
    # ImageJ writes non-ASCII units escaped, e.g. 'unit=\\u00B5m'.
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = text.strip("[]() \t")
    for sign in _ANGSTROM_SIGNS:
        text = text.replace(sign, "A")
    for prefix in _MICRO_PREFIXES:
        if text.startswith(prefix):
            text = "u" + text[len(prefix) :]
            break
    text = re.sub(r"[\s_]+", "", text).lower()
    if text in ANGSTROM_PER_UNIT:
        return text
    word = text[:-1] if text.endswith("s") and text[:-1] in _WORDS else text
    return _WORDS.get(word, text)


def is_unitless(unit: Any) -> bool:
    """Tell whether a unit string means "no physical length" (pixels, undefined or missing).

    Parameters
    ----------
    unit : str or bytes or None
        The unit as stored in a file.

    Returns
    -------
    bool
        True for None, empty strings, ``<undefined>``, ``px``/``pixel`` and similar.
    """
    if unit is None:
        return True
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", errors="replace")
    return str(unit).replace("\x00", "").strip().lower() in _UNITLESS


def angstrom_per_unit(unit: Any) -> float | None:
    """Return how many angstrom one ``unit`` is, or None when the unit is not a known length.

    Parameters
    ----------
    unit : str or bytes or None
        The unit as stored in a file (see the module docstring for the spellings handled).

    Returns
    -------
    float or None
        Angstrom per unit; None for missing, pixel or unrecognised units.
    """
    if is_unitless(unit):
        return None
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", errors="replace")
    return ANGSTROM_PER_UNIT.get(_canonical_unit(str(unit)))


def length_to_angstrom(value: Any, unit: Any) -> float | None:
    """Convert a calibration (pixel size) to angstrom.

    Parameters
    ----------
    value : float
        The pixel size as stored in the file, in ``unit``.
    unit : str or bytes or None
        The length unit as stored in the file: m, cm, mm, um/µm/μm/micron (and the garbled micro
        signs some vendors write), nm (or ``n_m``), pm, Å/A/angstrom; case and spaces ignored.

    Returns
    -------
    float or None
        The pixel size in angstrom, or None when it is unknown: a value that is not a finite
        positive number (MRC writes -10 or 0 for "unknown"), a missing or pixel unit (a scale of 1
        "pixel" is no calibration), or a unit string that is not a recognised length (the caller
        should warn about the latter; see :func:`is_unitless` to tell the two apart).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number <= 0.0:
        return None
    factor = angstrom_per_unit(unit)
    if factor is None:
        return None
    return number * factor
