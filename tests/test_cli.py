"""The command line: info, methods, denoise, noise-check, demo; bad input gets a clear error."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sbdenoise.cli import app
from sbdenoise.io import Micrograph, read_image, write_image
from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson, sample_poisson_gaussian
from sbdenoise.synthetic import synthetic_lattice

runner = CliRunner()


@pytest.fixture(scope="module")
def frame():
    return synthetic_lattice((192, 192))


@pytest.fixture()
def counts_file(tmp_path, frame):
    counts = sample_poisson(frame.expectation, np.random.default_rng(0)).astype(np.uint16)
    return write_image(Micrograph(counts, pixel_size=frame.pixel_size), tmp_path / "frame.tif")


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.stdout + (result.stderr or "")


def test_info_on_counts(counts_file):
    result, out = run("info", counts_file)
    assert result.exit_code == 0
    assert "192 x 192" in out and "uint16" in out
    assert "0.061 Å" in out
    assert "electron counts" in out and "detector units" not in out


def test_info_on_a_real_file_in_detector_units(formats_dir):
    result, out = run("info", formats_dir / "velox_haadf_au_nanoparticles.emd")
    assert result.exit_code == 0
    assert "2048 x 2048" in out and "0.07498" in out and "'nm'" in out
    assert "detector units, not electron counts" in out


def test_denoise_refuses_a_real_file_in_detector_units(tmp_path, formats_dir):
    source = formats_dir / "dm3_adf_mos2.dm3"
    before = source.read_bytes()
    result, out = run("denoise", source, "-o", tmp_path / "out.tif", "--method", "gaussian")
    assert result.exit_code == 2
    assert "dm3_adf_mos2.dm3" in out
    for option in ("--gain", "--offset", "--assume-counts"):
        assert option in out
    assert not (tmp_path / "out.tif").exists()
    assert source.read_bytes() == before


def test_denoise_a_frame_keeps_calibration_and_improves_psnr(tmp_path, counts_file, frame):
    out = tmp_path / "den.mrc"
    result, text = run("denoise", counts_file, "-o", out, "--method", "gaussian", "-p", "sigma=5")
    assert result.exit_code == 0, text
    assert "gaussian" in text and "sigma=5" in text and str(out) in text
    denoised = read_image(out)
    assert denoised.pixel_size == pytest.approx(frame.pixel_size, rel=1e-6)
    noisy = read_image(counts_file).data
    assert psnr(denoised.data, frame.expectation) > psnr(noisy, frame.expectation, clip=False) + 15


def test_denoise_a_stack_frame_by_frame_and_with_time_average(tmp_path, frame):
    rng = np.random.default_rng(1)
    stack = np.stack([sample_poisson(frame.expectation, rng) for _ in range(4)]).astype(np.uint16)
    source = write_image(Micrograph(stack, pixel_size=frame.pixel_size), tmp_path / "stack.tif")
    result, text = run("denoise", source, "-o", tmp_path / "g.tif", "--method", "gaussian")
    assert result.exit_code == 0, text
    assert read_image(tmp_path / "g.tif").data.shape == (4, 192, 192)
    result, text = run("denoise", source, "-o", tmp_path / "t.npy", "--method", "time-average")
    assert result.exit_code == 0, text
    averaged = np.load(tmp_path / "t.npy")
    np.testing.assert_allclose(averaged[0], stack.mean(axis=0), rtol=1e-6)


def test_gain_and_offset_convert_and_come_back_in_input_units(tmp_path, frame):
    values = sample_poisson_gaussian(frame.expectation * 4, np.random.default_rng(2), 10.0, 500.0)
    source = write_image(
        Micrograph(values.astype(np.float32), pixel_size=0.061), tmp_path / "d.npy"
    )
    result, out = run("denoise", source, "-o", tmp_path / "o.npy", "--method", "gaussian")
    assert result.exit_code == 2 and "--gain" in out
    result, out = run(
        "denoise",
        source,
        "-o",
        tmp_path / "o.npy",
        "--method",
        "gaussian",
        "--gain",
        "10",
        "--offset",
        "500",
    )
    assert result.exit_code == 0, out
    assert np.load(tmp_path / "o.npy").mean() == pytest.approx(values.mean(), rel=0.01)


def test_pixel_size_override_and_methods_that_need_it(tmp_path, frame):
    counts = sample_poisson(frame.expectation, np.random.default_rng(3))
    source = tmp_path / "nopix.npy"
    np.save(source, counts)
    result, out = run("denoise", source, "-o", tmp_path / "lp.npy", "--method", "lowpass")
    assert result.exit_code == 2 and "--pixel-size" in out
    result, out = run(
        "denoise", source, "-o", tmp_path / "lp.npy", "--method", "lowpass", "--pixel-size", "0.061"
    )
    assert result.exit_code == 0, out
    sidecar = json.loads((tmp_path / "lp.npy.json").read_text())
    assert sidecar["pixel_size_angstrom"] == pytest.approx(0.061)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((64, 64), np.nan), "NaN"),
        (np.ones(100), "1-D"),
        (np.ones((2, 2, 32, 32)), "4-D"),
        (np.ones((3, 3)), "too small"),
    ],
)
def test_bad_arrays_get_a_specific_error(tmp_path, array, message):
    source = tmp_path / "bad.npy"
    np.save(source, array)
    result, out = run("denoise", source, "-o", tmp_path / "o.npy", "--method", "gaussian")
    assert result.exit_code == 2
    assert "bad.npy" in out and message.lower() in out.lower()
    assert "Traceback" not in out


def test_negative_values_are_refused(tmp_path, frame):
    counts = sample_poisson(frame.expectation, np.random.default_rng(4)).astype(np.int16) - 1
    source = tmp_path / "neg.npy"
    np.save(source, counts)
    result, out = run("denoise", source, "-o", tmp_path / "o.npy", "--method", "gaussian")
    assert result.exit_code == 2 and "negative" in out


def test_missing_truncated_and_same_path(tmp_path, counts_file, formats_dir):
    result, out = run("denoise", tmp_path / "nothing.tif", "-o", tmp_path / "o.tif")
    assert result.exit_code == 2 and "nothing.tif" in out and "not found" in out
    truncated = tmp_path / "cut.dm3"
    truncated.write_bytes((formats_dir / "dm3_adf_mos2.dm3").read_bytes()[:4096])
    result, out = run("info", truncated)
    assert result.exit_code == 2 and "cut.dm3" in out and "Traceback" not in out
    before = counts_file.read_bytes()
    result, out = run("denoise", counts_file, "-o", counts_file, "--method", "gaussian")
    assert result.exit_code == 2
    assert counts_file.read_bytes() == before


def test_unknown_method_lists_the_valid_ones(counts_file, tmp_path):
    result, out = run("denoise", counts_file, "-o", tmp_path / "o.tif", "--method", "magic")
    assert result.exit_code == 2 and "pure-let" in out and "vst-bm3d" in out


def test_methods_lists_every_baseline():
    result, out = run("methods")
    assert result.exit_code == 0
    for name in ("lowpass", "wiener", "bragg", "vst-nlm", "vst-bm3d", "pure-let", "time-average"):
        assert name in out


def test_noise_check_on_a_stack(tmp_path, frame):
    rng = np.random.default_rng(5)
    stack = np.stack(
        [sample_poisson_gaussian(frame.expectation * 20, rng, 8.0, 100.0, 3.0) for _ in range(12)]
    ).astype(np.float32)
    source = write_image(Micrograph(stack, pixel_size=0.061), tmp_path / "s.tif")
    png = tmp_path / "check.png"
    result, out = run("noise-check", source, "-o", png)
    assert result.exit_code == 0, out
    assert "NOT consistent with Poisson" in out and "--gain" in out
    assert png.stat().st_size > 20_000


@pytest.mark.slow
def test_demo_writes_images_figure_and_numbers(tmp_path):
    result, out = run(
        "demo",
        "-o",
        tmp_path / "demo",
        "--size",
        "256",
        "--method",
        "pure-let",
        "--source",
        "lattice",
    )
    assert result.exit_code == 0, out
    summary = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert summary["source"] == "lattice"
    assert summary["psnr_raw_db_unclipped"] == pytest.approx(3.5, abs=0.2)
    assert summary["psnr_denoised_db"] > summary["psnr_raw_db_unclipped"] + 20
    for name in ("noisy.tif", "denoised.tif", "truth.tif", "demo.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000


def test_demo_refuses_an_unknown_source(tmp_path):
    result, out = run("demo", "-o", tmp_path / "demo", "--source", "graphene")
    assert result.exit_code != 0
    assert "unknown demo source 'graphene'" in out and "pt-ceo2" in out
    assert not (tmp_path / "demo" / "noisy.tif").exists()


def test_noise_check_on_a_real_movie_and_a_single_real_frame(tmp_path, formats_dir):
    # DE movie: temporal variance far below any shot noise -> processed data, no conversion.
    # JEOL frame: var/mean about 110 in file units (2.6 in electrons with its 0.0227 e-/count
    # tag), white noise at a plausible dose -> a gain/offset conversion is suggested.
    expectations = {"mrc_de_movie.mrc": False, "jeol_lzw_lowdose.tif": True}
    for name, suggests_conversion in expectations.items():
        result, out = run("noise-check", formats_dir / name, "-o", tmp_path / f"{name}.png")
        assert result.exit_code == 0, out
        assert "NOT consistent with Poisson" in out
        assert ("--gain" in out) is suggests_conversion
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000


def test_sbd_method_runs_a_model_file_through_the_same_code_as_the_api(tmp_path, frame):
    import torch

    from sbdenoise.denoise.inference import denoise_array
    from sbdenoise.nn import build_model
    from sbdenoise.nn.card import make_card
    from sbdenoise.nn.model_file import load_model, save_model

    torch.manual_seed(0)
    network = build_model("unet", scales=2, base_channels=4)
    card = make_card(
        network,
        "unet",
        {"scales": 2, "base_channels": 4},
        sampling=0.244,
        dose=7.2,
        input_scale=1 / 7.2,
    )
    model_path = save_model(tmp_path / "tiny.safetensors", network, card)
    counts = sample_poisson(frame.expectation, np.random.default_rng(6)).astype(np.uint16)
    source = write_image(Micrograph(counts, pixel_size=0.061), tmp_path / "in.tif")
    result, out = run(
        "denoise", source, "-o", tmp_path / "out.tif", "--method", "sbd", "--model", model_path
    )
    assert result.exit_code == 0, out
    assert "with sbd" in out and "tiny.safetensors" in out.replace("\n", "")
    loaded, loaded_card = load_model(model_path)
    expected = denoise_array(loaded, loaded_card, counts, 0.061)
    written = read_image(tmp_path / "out.tif")
    assert written.data.shape == counts.shape
    assert written.pixel_size == pytest.approx(0.061)
    np.testing.assert_allclose(written.data, expected, rtol=1e-5, atol=1e-6)
    # a field limit through --param is the API's field: the same code, a different result
    result, out = run(
        "denoise", source, "-o", tmp_path / "f.tif", "--method", "sbd", "--model", model_path,
        "--param", "field=32",
    )  # fmt: skip
    assert result.exit_code == 0, out
    fielded = denoise_array(loaded, loaded_card, counts, 0.061, field=32)
    assert counts.shape[0] // 4 > 32 and not np.allclose(fielded, expected, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "f.tif").data, fielded, rtol=1e-5, atol=1e-6)

    result, out = run(
        "denoise", source, "-o", tmp_path / "g.tif", "--method", "gaussian", "--model", model_path
    )
    assert result.exit_code == 2 and "--model goes with --method sbd" in out
    png = tmp_path / "filter.png"
    result, out = run("explain", model_path, source, "--pixel", "96,100", "-o", png)
    assert result.exit_code == 0, out
    assert png.stat().st_size > 20_000
