"""The analysis commands through the CLI: likelihood, report, evaluate and explain."""

import csv

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

from sbdenoise.cli import app
from sbdenoise.denoise.registry import DEFAULT_ENSEMBLE
from sbdenoise.io import Micrograph, write_image
from sbdenoise.noise.models import sample_poisson
from sbdenoise.synthetic import synthetic_lattice
from tests.analysis.test_evaluation import make_store

runner = CliRunner()
PIXEL_SIZE = 0.061


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """Output with the console's line wrapping removed."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    frame = synthetic_lattice((256, 256), pixel_size=PIXEL_SIZE)
    noisy = sample_poisson(frame.expectation, np.random.default_rng(0))
    denoised = gaussian_filter(noisy.astype(np.float32), 0.35 / PIXEL_SIZE)
    paths = {
        "noisy": write_image(Micrograph(noisy, PIXEL_SIZE), folder / "noisy.npy"),
        "denoised": write_image(Micrograph(denoised, PIXEL_SIZE), folder / "denoised.npy"),
        "truth": write_image(Micrograph(frame.expectation, PIXEL_SIZE), folder / "truth.npy"),
        "uncalibrated": folder / "uncalibrated.npy",
        "stack": write_image(Micrograph(np.stack([noisy, noisy]), PIXEL_SIZE), folder / "s.npy"),
    }
    np.save(paths["uncalibrated"], noisy)
    return paths


def test_likelihood_with_the_papers_thresholds_writes_figure_and_table(files, tmp_path):
    png = tmp_path / "map.png"
    result = invoke(
        "likelihood", files["noisy"], files["denoised"], "-o", png, "--verdicts", "thresholds",
        "--radius", "0.6", "--real", "0.004", "--spurious", "-0.005", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "candidates:" in result.output and "fixed thresholds" in flat(result.output)
    assert imread(png).ndim == 3
    with open(tmp_path / "map.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 10
    assert {"y_A", "x_A", "row_px", "col_px", "likelihood_ratio", "verdict", "q_value"} <= set(
        rows[0]
    )
    for row in rows:
        value = float(row["likelihood_ratio"])
        expected = "real" if value >= 0.004 else "spurious" if value <= -0.005 else "uncertain"
        assert row["verdict"] == expected == row["threshold_verdict"]
        assert float(row["row_px"]) * PIXEL_SIZE == pytest.approx(float(row["y_A"]), abs=1e-4)
    # A given vacuum rate is used as given.
    result = invoke(
        "likelihood", files["noisy"], files["denoised"], "-o", tmp_path / "b.png",
        "--vacuum-rate", "0.45", "--csv", tmp_path / "b.csv", "--verdicts", "thresholds",
    )  # fmt: skip
    assert result.exit_code == 0 and "vacuum 0.45 e-/px, given" in flat(result.output)


def test_likelihood_calibrates_verdicts_on_the_method_that_denoised(files, tmp_path, monkeypatch):
    monkeypatch.setenv("SBDENOISE_NULL_CACHE", str(tmp_path / "null"))
    sigma = str(0.35 / PIXEL_SIZE)  # the fixture's denoised frame is this Gaussian filter
    png = tmp_path / "v.png"
    result = invoke(
        "likelihood", files["noisy"], files["denoised"], "-o", png, "--method", "gaussian",
        "--param", f"sigma={sigma}", "--fdr", "0.1", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "calibrated on gaussian in simulated vacuum, FDR 0.1" in text and "null:" in text
    with open(tmp_path / "v.csv") as handle:
        rows = list(csv.DictReader(handle))
    verdicts = {row["verdict"] for row in rows}
    assert verdicts <= {"supported", "not supported", "contradicted"} and "supported" in verdicts
    for row in rows:
        assert (row["verdict"] == "supported") == (float(row["q_value"]) <= 0.1)
    assert len(list((tmp_path / "null").glob("gaussian-*.npz"))) == 1
    assert {row["fdr_class"] for row in rows} <= {"surface", "bulk", "lattice"}
    # the denoiser's own profile, one FDR class over the frame: the same cached null serves
    result = invoke(
        "likelihood", files["noisy"], files["denoised"], "-o", tmp_path / "own.png",
        "--method", "gaussian", "--param", f"sigma={sigma}", "--profile", "own",
        "--fdr-classes", "frame", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(tmp_path / "own.csv") as handle:
        own = list(csv.DictReader(handle))
    assert {row["fdr_class"] for row in own} == {"frame"}
    assert [row["score"] for row in own] != [row["score"] for row in rows]
    assert len(list((tmp_path / "null").glob("gaussian-*.npz"))) == 1
    result = invoke(
        "likelihood", files["noisy"], files["denoised"], "-o", tmp_path / "x.png",
        "--method", "gaussian", "--profile", "mine",
    )  # fmt: skip
    assert result.exit_code == 2 and "profile" in flat(result.output)
    # a method that trains on its input cannot be calibrated: said, and nothing written
    result = invoke(
        "likelihood", files["noisy"], files["denoised"], "-o", tmp_path / "w.png",
        "--method", "self2self",
    )  # fmt: skip
    assert result.exit_code == 2 and "trains on its input" in flat(result.output)
    assert not (tmp_path / "w.png").exists()
    result = invoke(
        "likelihood", files["noisy"], files["denoised"], "-o", tmp_path / "w.png", "--fdr", "2"
    )
    assert result.exit_code == 2 and "false discovery rate" in flat(result.output)


def test_likelihood_refuses_bad_input_naming_the_file(files, tmp_path):
    out = tmp_path / "m.png"
    result = invoke("likelihood", files["uncalibrated"], files["uncalibrated"], "-o", out)
    assert result.exit_code == 2
    assert "uncalibrated.npy" in flat(result.output) and "--pixel-size" in flat(result.output)
    result = invoke("likelihood", files["stack"], files["denoised"], "-o", out)
    assert result.exit_code == 2 and "s.npy" in flat(result.output)
    assert "frames" in flat(result.output)
    result = invoke("likelihood", files["noisy"], files["denoised"], "-o", files["denoised"])
    assert result.exit_code == 2 and "overwrite" in flat(result.output)
    # A denoised frame in place of the counts is not counts.
    result = invoke("likelihood", files["denoised"], files["denoised"], "-o", out)
    assert result.exit_code == 2 and "denoised.npy" in flat(result.output)


@pytest.mark.slow
def test_report_builds_one_page_with_metrics_and_verdicts(files, tmp_path, monkeypatch):
    monkeypatch.setenv("SBDENOISE_NULL_CACHE", str(tmp_path / "null"))
    out = tmp_path / "report"
    result = invoke(
        "report", files["noisy"], files["denoised"], "-o", out, "--truth", files["truth"],
        "--method", "gaussian", "--param", f"sigma={0.35 / PIXEL_SIZE}", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    for name in (
        "noisy.png", "denoised.png", "likelihood.png", "truth.png", "columns.csv",
        "verdicts.png", "candidates.csv",
    ):  # fmt: skip
        assert (out / name).exists() and name in page
    assert "Jaccard" in page and "PSNR denoised" in page and "surface" in page
    assert "Verdicts on every candidate" in page and "about 2 sigma" in page
    assert "surface_jaccard" in result.output and "supported" in result.output
    with open(out / "candidates.csv") as handle:
        assert {row["verdict"] for row in csv.DictReader(handle)} <= {
            "supported", "not supported", "contradicted"
        }  # fmt: skip
    # without verdicts the page is the likelihood map alone
    result = invoke(
        "report", files["noisy"], files["denoised"], "-o", tmp_path / "r2", "--verdicts", "none"
    )
    assert result.exit_code == 0 and not (tmp_path / "r2" / "verdicts.png").exists()


def test_evaluate_command(tmp_path):
    store = make_store(tmp_path / "data", n_test=1)
    out = tmp_path / "eval"
    result = invoke(
        "evaluate", store, "-o", out, "--method", "gaussian", "-p", "sigma=6", "-n", "2", "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert "ROC AUC" in flat(result.output)
    for name in (
        "per_image.csv", "columns.csv", "truth_columns.csv", "structure_boxplots.png",
        "summary.json",
    ):  # fmt: skip
        assert (out / name).exists()
    result = invoke(
        "evaluate", store, "-o", tmp_path / "at-dose", "--method", "gaussian", "-n", "1",
        "--dose", "1.35", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(tmp_path / "at-dose" / "per_image.csv") as handle:
        assert {row["dose"] for row in csv.DictReader(handle)} == {"1.35"}
    result = invoke("evaluate", store, "-o", out, "--dose", "-1", "--quiet")
    assert result.exit_code == 2 and "dose must be a positive" in flat(result.output)
    result = invoke("evaluate", tmp_path / "nowhere", "-o", out, "--quiet")
    assert result.exit_code == 2 and "nowhere" in flat(result.output)


def test_evaluate_command_passes_the_detector_threshold(tmp_path):
    import json

    store = make_store(tmp_path / "data", n_test=1)
    found = {}
    for threshold in ("0.15", "5"):  # 5: columns would have to stand 500 % above the median
        out = tmp_path / f"eval-{threshold}"
        args = ("evaluate", store, "-o", out, "--method", "clean", "-n", "1", "--quiet")
        result = invoke(*args, "--min-contrast", threshold)
        assert result.exit_code == 0, result.output
        found[threshold] = json.loads((out / "summary.json").read_text())["mean"]["all_recall"]
    assert found["0.15"] > 0.5 and found["5"] == 0.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-scale UNet with a dose-normalised card working at 2 x 2 binning of PIXEL_SIZE."""
    from sbdenoise.nn import build_model
    from sbdenoise.nn.card import make_card
    from sbdenoise.nn.model_file import save_model

    torch.manual_seed(0)
    network = build_model("unet", scales=2, base_channels=4)
    card = make_card(
        network,
        "unet",
        {"scales": 2, "base_channels": 4},
        sampling=2 * PIXEL_SIZE,
        dose=1.8,
        input_scale=1 / 1.8,
        normalization="frame_mean",
    )
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", network, card)


def test_explain_shows_the_filter_of_the_sbd_path(files, tiny_model, tmp_path):
    from sbdenoise.analysis.pixel_filter import pixel_filter
    from sbdenoise.io import read_image
    from sbdenoise.nn.model_file import load_model

    png = tmp_path / "f.png"
    result = invoke(
        "explain", tiny_model, files["noisy"], "--pixel", "100,121", "-o", png, "--window", "2.0"
    )
    assert result.exit_code == 0, result.output
    assert imread(png).ndim == 3
    # the figure and the numbers are those of the working grid the sbd method uses
    network, card = load_model(tiny_model)
    counts = np.asarray(read_image(files["noisy"]).data)
    probe = pixel_filter(network, card, counts, PIXEL_SIZE, (100, 121), DEFAULT_ENSEMBLE)
    assert probe.factor == 2 and probe.working_pixel == (50, 60)
    assert probe.weights.shape == (128, 128)
    assert f"gain) {probe.gain:.4g}" in flat(result.output)
    assert f"output {probe.output:.4g} e-/px" in flat(result.output)


@pytest.mark.parametrize("shape", [(256, 256), (250, 246)])  # 125 x 123 working px: windows
def test_the_filter_goes_through_the_self_ensemble_as_inference_does(files, tiny_model, shape):
    from sbdenoise.analysis.pixel_filter import pixel_filter
    from sbdenoise.denoise import inference
    from sbdenoise.io import read_image
    from sbdenoise.nn.model_file import load_model
    from sbdenoise.nn.sampling import to_working_grid

    network, card = load_model(tiny_model)
    counts = np.asarray(read_image(files["noisy"]).data, dtype=np.float64)
    counts = counts[: shape[0], : shape[1]]
    grid = to_working_grid(counts, PIXEL_SIZE, card.sampling)
    scale = card.scale_for(grid.counts)
    probes = {n: pixel_filter(network, card, counts, PIXEL_SIZE, (100, 121), n) for n in (1, 8)}
    reach = -(-card.receptive_field_px // 2) + 2  # as denoise_array: half the field + the multiple
    assert not network.training  # left in the mode it came in (eval: running statistics)
    for size, probe in probes.items():
        with torch.inference_mode():
            expected = inference._run_network(
                network, (grid.counts * scale).astype(np.float32), None, 1,
                torch.device("cpu"), "fp32", size, reach,
            )  # fmt: skip
        np.testing.assert_allclose(probe.denoised * scale * 4, expected, rtol=1e-4, atol=1e-5)
    # the ensemble's filter is not the plain network's (the option reaches the gradient)
    assert not np.allclose(probes[1].weights, probes[8].weights, atol=1e-6)


def test_explain_refuses_what_it_cannot_place(files, tiny_model, tmp_path):
    png = tmp_path / "f.png"
    result = invoke("explain", tiny_model, files["noisy"], "--pixel", "1;2", "-o", png)
    assert result.exit_code == 2 and "ROW,COL" in flat(result.output)
    result = invoke("explain", tiny_model, files["uncalibrated"], "--pixel", "1,2", "-o", png)
    assert result.exit_code == 2 and "--pixel-size" in flat(result.output)
    result = invoke("explain", tiny_model, files["noisy"], "--pixel", "300,2", "-o", png)
    assert result.exit_code == 2 and "outside" in flat(result.output)
    assert not png.exists()
