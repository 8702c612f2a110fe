"""Length units as microscope files spell them, normalised to angstrom."""

from __future__ import annotations

import math

import pytest

from sbdenoise.io.units import angstrom_per_unit, is_unitless, length_to_angstrom

CASES = [
    # value, unit as stored, expected angstrom
    (1.0, "m", 1e10),
    (2e-10, "M", 2.0),
    (1.0, "cm", 1e8),
    (0.5, "mm", 5e6),
    (1.0, "um", 1e4),
    (1.0, "µm", 1e4),  # U+00B5 MICRO SIGN
    (1.0, "μm", 1e4),  # U+03BC GREEK SMALL LETTER MU
    (1.0, "micron", 1e4),
    (2.0, "microns", 2e4),
    (1.0, "micrometer", 1e4),
    (1.0, "\\u00B5m", 1e4),  # ImageJ's escaped micro sign
    (0.0029884567484259605, "ƒÊm", 29.884567484259605),  # Shift-JIS micro read as cp1252 (JEOL)
    (1.0, "\u0083\u00cam", 1e4),  # the same bytes read as Latin-1
    (1.0, "Âµm", 1e4),  # UTF-8 micro sign read as cp1252
    (0.0075, "nm", 0.075),
    (0.0075, " NM ", 0.075),
    (0.01225, "n_m", 0.1225),  # Berkeley EMD
    (3.0, "nanometers", 30.0),
    (2.0, "pm", 0.02),
    (2.0, "Å", 2.0),  # U+00C5
    (2.0, "Å", 2.0),  # U+212B ANGSTROM SIGN
    (2.0, "A", 2.0),
    (2.0, "a", 2.0),
    (2.0, "angstrom", 2.0),
    (2.0, "Angstroms", 2.0),
    (2.0, b"nm", 20.0),
    ("0.5", "nm", 5.0),  # numbers stored as text
]


@pytest.mark.parametrize(("value", "unit", "expected"), CASES)
def test_known_units_convert_to_angstrom(value: object, unit: object, expected: float) -> None:
    assert length_to_angstrom(value, unit) == pytest.approx(expected, rel=1e-12)


UNKNOWN = [
    (-10.0, "Å"),  # MRC placeholder for "unknown"
    (0.0, "nm"),
    (float("nan"), "nm"),
    (float("inf"), "nm"),
    (1.0, None),  # uncalibrated axis
    (1.0, ""),
    (1.0, "<undefined>"),
    (1.0, "px"),
    (1.0, "pixels"),
    (0.00933, None),  # a scale without a unit is not a calibration
    (1.0, "1/nm"),  # reciprocal space: not a length
    (1.0, "furlong"),
    (1.0, "s"),
    ("abc", "nm"),
    (None, "nm"),
]


@pytest.mark.parametrize(("value", "unit"), UNKNOWN)
def test_placeholders_and_unknown_units_give_none(value: object, unit: object) -> None:
    assert length_to_angstrom(value, unit) is None


@pytest.mark.parametrize("unit", [None, "", " ", "<undefined>", "px", "Pixel", "\x00"])
def test_unitless_spellings(unit: object) -> None:
    assert is_unitless(unit)
    assert angstrom_per_unit(unit) is None


@pytest.mark.parametrize("unit", ["nm", "1/nm", "furlong"])
def test_units_that_are_not_unitless(unit: str) -> None:
    # The readers warn for these when they are not recognised, and stay silent for pixels.
    assert not is_unitless(unit)


def test_factors_are_consistent() -> None:
    assert math.isclose(angstrom_per_unit("m"), 1e3 * angstrom_per_unit("mm"))
    assert math.isclose(angstrom_per_unit("mm"), 1e3 * angstrom_per_unit("um"))
    assert math.isclose(angstrom_per_unit("um"), 1e3 * angstrom_per_unit("nm"))
    assert math.isclose(angstrom_per_unit("nm"), 1e3 * angstrom_per_unit("pm"))
