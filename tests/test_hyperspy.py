"""HyperSpy integration: real vendor files through hyperspy.api.load, denoised and mapped."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")

from sbdenoise.analysis.candidates import find_candidates  # noqa: E402
from sbdenoise.analysis.likelihood import column_likelihood  # noqa: E402
from sbdenoise.errors import InputError, NotCountsError  # noqa: E402
from sbdenoise.hyperspy import (  # noqa: E402
    denoise_signal,
    likelihood_signal,
    signal_pixel_size,
)
from sbdenoise.noise.check import estimate_noise  # noqa: E402
from sbdenoise.synthetic import synthetic_lattice  # noqa: E402

#: Low-dose JEOL HRTEM frame in detector units (about 100 units per electron), 29.9 A/px as
#: stored ('ƒÊm', a garbled micro sign).
JEOL = "jeol_lzw_lowdose.tif"


def _axes(signal) -> list[tuple]:
    return [
        (ax.name, ax.size, ax.scale, ax.offset, str(ax.units), ax.navigate)
        for ax in signal.axes_manager._axes
    ]


def _quiet_load(path: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hs.load(path, **kwargs)


@pytest.fixture(scope="module")
def jeol(formats_dir: Path):
    return _quiet_load(formats_dir / JEOL)


@pytest.fixture(scope="module")
def jeol_conversion(jeol) -> dict[str, float]:
    """Gain and offset of the JEOL frame as the package's noise check measures them."""
    estimate = estimate_noise(jeol.data)
    assert estimate.conversion_plausible
    return {"gain": estimate.gain, "offset": estimate.offset}


def _counts_signal(frames: int = 0, seed: int = 1):
    """Poisson counts of the synthetic lattice (0.45 e-/px vacuum) at 0.0061 nm/px, and truth."""
    truth = synthetic_lattice((192, 192), pixel_size=0.061, seed=0)
    rng = np.random.default_rng(seed)
    shape = (frames, *truth.expectation.shape) if frames else truth.expectation.shape
    noisy = hs.signals.Signal2D(rng.poisson(truth.expectation, size=shape).astype(np.uint16))
    clean = hs.signals.Signal2D(np.broadcast_to(truth.expectation, shape).astype(np.float32))
    for signal in (noisy, clean):
        for axis, name in zip(signal.axes_manager.signal_axes, "xy", strict=True):
            axis.name, axis.scale, axis.offset, axis.units = name, 0.0061, 1.5, "nm"
        if frames:
            nav = signal.axes_manager.navigation_axes[0]
            nav.name, nav.scale, nav.units = "time", 0.025, "s"
    noisy.metadata.General.title = "counts"
    clean.metadata.General.title = "truth"
    return noisy, clean, truth


def test_pixel_size_from_vendor_axes(formats_dir: Path, jeol):
    assert signal_pixel_size(jeol) == pytest.approx(29.884567484259605)  # 0.00299 'ƒÊm'
    tia = _quiet_load(formats_dir / "tia_haadf_srtio3.emi")
    assert signal_pixel_size(tia) == pytest.approx(0.10012704240403384)  # nm
    stack = _quiet_load(formats_dir / "dm4_stack_int16.dm4")  # x 2 pm, y 3 nm, z 4 um
    with pytest.warns(UserWarning, match="not square"):
        assert signal_pixel_size(stack) == pytest.approx(0.02)
    no_unit = _quiet_load(formats_dir / "hspy_adf_perovskite.hspy")  # 0.00933, no unit
    with pytest.warns(UserWarning, match="no length unit"):
        assert signal_pixel_size(no_unit) is None


def test_detector_units_are_refused_with_a_hint(jeol):
    before = jeol.data.copy()
    with pytest.raises(NotCountsError, match=r"jeol_lzw_lowdose\.tif.*detector units.*--gain"):
        denoise_signal(jeol, method="gaussian")
    np.testing.assert_array_equal(jeol.data, before)


def test_gaussian_on_a_real_file_keeps_axes_and_records_the_processing(jeol, jeol_conversion):
    before = jeol.data.copy()
    axes = _axes(jeol)
    out = denoise_signal(jeol, method="gaussian", params={"sigma": 3.0}, **jeol_conversion)

    # input untouched, output a new signal of the same class on the same axes
    np.testing.assert_array_equal(jeol.data, before)
    assert jeol.data.dtype == np.uint16
    assert "sbdenoise" not in jeol.metadata.Signal
    assert type(out) is type(jeol) and out is not jeol
    assert _axes(out) == axes
    assert out.data.shape == jeol.data.shape and out.data.dtype == np.float32
    assert out.metadata.General.original_filename == JEOL
    assert out.original_metadata.as_dictionary() == jeol.original_metadata.as_dictionary()
    assert out.metadata.General.title.endswith("(denoised: gaussian)")

    record = out.metadata.Signal.sbdenoise
    assert record.method == "gaussian"
    assert record.params.as_dictionary() == {"sigma": 3.0}
    assert record.pixel_size_angstrom == pytest.approx(29.884567484259605)
    assert record.pixel_size_source == "axes"
    assert f"gain {jeol_conversion['gain']}" in record.input_values
    assert record.sbdenoise_version

    # back in detector units, the level is kept, and a flat region (rows 0-100, see the file) is
    # much smoother than the input
    raw = jeol.data.astype(np.float64)
    assert np.mean(out.data) == pytest.approx(np.mean(raw), rel=0.02)
    assert not np.allclose(out.data, raw)
    flat = (slice(0, 100), slice(0, 512))
    assert np.var(out.data[flat]) < 0.05 * np.var(raw[flat])


def test_sbd_on_a_crop_of_a_real_file(jeol, jeol_conversion):
    crop = jeol.isig[32:160, 64:192]
    assert crop.axes_manager.signal_axes[0].offset != 0
    axes = _axes(crop)
    with pytest.warns(UserWarning, match="outside the doses the model was trained for"):
        out = denoise_signal(crop, method="sbd", pixel_size=0.061, **jeol_conversion)
    assert _axes(out) == axes  # the crop's offsets and the file's units are kept
    assert np.all(np.isfinite(out.data)) and not np.allclose(out.data, crop.data)
    record = out.metadata.Signal.sbdenoise
    assert record.method == "sbd"
    assert record.pixel_size_angstrom == 0.061 and record.pixel_size_source == "given"
    assert record.model.name == "sbd-unet-pt-ceo2"
    assert record.model.architecture == "unet"
    assert record.notes and "dose" in record.notes[0]


def test_sbd_on_counts_denoises_and_keeps_calibration(tmp_path: Path):
    noisy, _, truth = _counts_signal()
    out = denoise_signal(noisy, method="sbd")
    assert _axes(out) == _axes(noisy)
    assert out.metadata.Signal.sbdenoise.pixel_size_angstrom == pytest.approx(0.061)
    assert out.metadata.Signal.sbdenoise.input_values == "electron counts (checked)"
    vacuum = truth.vacuum_mask
    assert np.var(out.data[vacuum]) < 0.05 * np.var(noisy.data[vacuum])
    mse_noisy = np.mean((noisy.data - truth.expectation) ** 2)
    assert np.mean((out.data - truth.expectation) ** 2) < 0.1 * mse_noisy

    # the record survives a round trip through a .hspy file
    out.save(tmp_path / "denoised.hspy")
    back = _quiet_load(tmp_path / "denoised.hspy")
    assert back.metadata.Signal.sbdenoise.model.name == "sbd-unet-pt-ceo2"
    assert _axes(back) == _axes(noisy)


def test_stack_from_a_real_file_keeps_its_navigation_axis(formats_dir: Path):
    # old-style MRC, 3 frames of 128 x 128 at 0.2 nm; values in [0, 1] are not counts
    stack = _quiet_load(formats_dir / "mrc_stack_legacy_header.mrc")
    assert stack.axes_manager.navigation_dimension == 1
    out = denoise_signal(stack, method="gaussian", assume_counts=True)
    assert _axes(out) == _axes(stack)
    assert out.axes_manager.navigation_shape == (3,)
    assert out.metadata.Signal.sbdenoise.pixel_size_angstrom == pytest.approx(2.0)
    one = denoise_signal(stack.inav[1], method="gaussian", assume_counts=True)
    np.testing.assert_allclose(out.inav[1].data, one.data, rtol=1e-6)

    average = denoise_signal(stack, method="time-average", assume_counts=True)
    assert average.axes_manager.navigation_shape == (3,)
    with pytest.raises(InputError, match="needs a stack"):
        denoise_signal(stack.inav[0], method="time-average", assume_counts=True)


def test_two_navigation_axes_and_lazy_signals():
    noisy, _, _ = _counts_signal(frames=4)
    grid = hs.signals.Signal2D(noisy.data.reshape(2, 2, *noisy.data.shape[-2:]))
    out = denoise_signal(grid, method="gaussian")
    assert out.axes_manager.navigation_shape == (2, 2)
    first = denoise_signal(grid.inav[1, 0], method="gaussian")
    np.testing.assert_allclose(out.inav[1, 0].data, first.data, rtol=1e-6)

    lazy = noisy.as_lazy()
    out_lazy = denoise_signal(lazy, method="gaussian")
    assert out_lazy._lazy and _axes(out_lazy) == _axes(noisy)
    np.testing.assert_allclose(
        np.asarray(out_lazy.data), denoise_signal(noisy, method="gaussian").data
    )


def test_bad_input_is_refused():
    noisy, _, _ = _counts_signal()
    nan = hs.signals.Signal2D(noisy.data.astype(np.float32))
    nan.data[5, 7] = np.nan
    with pytest.raises(InputError, match="1 NaN"):
        denoise_signal(nan, method="gaussian")
    with pytest.raises(InputError, match="1 signal dimension"):
        denoise_signal(hs.signals.Signal1D(np.ones((64, 64))), method="gaussian")
    with pytest.raises(InputError, match="must be a HyperSpy signal"):
        denoise_signal(noisy.data, method="gaussian")
    with pytest.raises(InputError, match="too small"):
        denoise_signal(hs.signals.Signal2D(np.ones((8, 8))), method="gaussian")
    with pytest.raises(InputError, match="unknown method"):
        denoise_signal(noisy, method="no-such-method")
    uncalibrated = hs.signals.Signal2D(noisy.data)
    with pytest.raises(InputError, match="needs the pixel size"):
        denoise_signal(uncalibrated, method="sbd")


def test_likelihood_map_is_the_column_likelihood_of_the_candidates():
    noisy, clean, truth = _counts_signal()
    noisy_before = noisy.data.copy()
    llr = likelihood_signal(noisy, clean)
    np.testing.assert_array_equal(noisy.data, noisy_before)
    assert llr.axes_manager.signal_dimension == 2 and _axes(llr) == _axes(noisy)

    found = find_candidates(truth.expectation, 0.061)
    expected = column_likelihood(
        noisy.data.astype(np.float32), truth.expectation, found.positions, 0.061
    )
    np.testing.assert_allclose(llr.data, expected.map, equal_nan=True, rtol=1e-5)
    assert np.mean(np.isnan(llr.data[truth.vacuum_mask])) > 0.95  # no columns in vacuum
    record = llr.metadata.Signal.sbdenoise
    assert record.analysis == "likelihood"
    assert record.vacuum_rate == pytest.approx(truth.vacuum_level, rel=0.05)
    assert record.columns.real == int(np.sum(expected.verdict == "real")) > 0
    # the oracle's columns are supported by the counts
    assert np.nanmean(llr.data) > 0


def test_likelihood_of_a_stack_and_shape_mismatch():
    noisy, clean, _ = _counts_signal(frames=2)
    llr = likelihood_signal(noisy, clean, vacuum_rate=0.45)
    assert _axes(llr) == _axes(noisy)
    assert llr.axes_manager.navigation_shape == (2,)
    assert np.all(np.isfinite(llr.metadata.Signal.sbdenoise.vacuum_rate))
    with pytest.raises(InputError, match="same field of view"):
        likelihood_signal(noisy, clean.inav[0])
