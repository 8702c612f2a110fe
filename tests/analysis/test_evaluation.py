"""evaluate(): noise realisations over a simulated test split, per-image CSV and plots."""

import csv
import math

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.ndimage import gaussian_filter

from sbdenoise.analysis.evaluation import CLEAN_REFERENCE, IMAGE_FIELDS, evaluate
from sbdenoise.errors import InputError
from sbdenoise.simulate.store import ImageRecord, consolidate, write_part
from sbdenoise.specimen.columns import column_table
from sbdenoise.synthetic import synthetic_lattice

PIXEL_SIZE = 0.08


def make_store(directory, n_test: int = 2, with_truth: bool = True, faint_half: bool = False):
    """A small dataset: ``n_test`` test images and one training image of a synthetic lattice.

    With ``faint_half`` the columns of the right half are O and invisible (the image there is
    flat), like the O columns of CeO2 in phase contrast; the others are Pt.
    """
    splits = ["train"] + ["test"] * n_test
    for index, split in enumerate(splits):
        frame = synthetic_lattice((256, 256), pixel_size=PIXEL_SIZE, seed=index)
        cols = frame.columns if with_truth else np.zeros((0, 2))
        image = frame.expectation
        elements = ["Pt"] * len(cols)
        if faint_half:
            right = cols[:, 1] > 128 * PIXEL_SIZE
            elements = np.where(right, "O", "Pt").tolist()
            image = image.copy()
            image[:, 128:] = np.median(image)
        table = column_table(
            x=cols[:, 1],
            y=cols[:, 0],
            element=elements,
            n_atoms=[5] * len(cols),
            on_surface=[False] * len(cols),
        )
        params = {
            "structure_id": index,
            "split": split,
            "contrast": "white",
            "defocus_nm": 4.0,
            "pixel_size": PIXEL_SIZE,
            "dose": 0.45,
        }
        write_part(directory, ImageRecord(index, image, params, table))
    return consolidate(directory, len(splits), {"name": "test"})


def smoothing(counts: np.ndarray, pixel_size: float) -> np.ndarray:
    return gaussian_filter(counts.astype(np.float64), 0.35 / pixel_size)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("data"))


def test_evaluate_writes_per_image_rows_and_plots(store, tmp_path):
    result = evaluate(store, smoothing, n_realisations=2, seed=3, output_dir=tmp_path)
    assert [(r["image"], r["realisation"]) for r in result.rows] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert {r["method"] for r in result.rows} == {"smoothing"}
    with open(result.paths["per_image_csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(IMAGE_FIELDS) and len(rows) == 4
    for row in result.rows:
        assert row["psnr"] > row["psnr_noisy"] + 5  # smoothing helps a lot at 0.45 e-/px
        assert row["n_surface_truth"] > 0 and row["n_truth"] > row["n_surface_truth"]
        for part in ("surface", "bulk"):
            for name in ("precision", "recall", "f1", "jaccard"):
                assert 0.0 <= row[f"{part}_{name}"] <= 1.0
        assert row["bulk_recall"] > 0.8
        assert row["truth_source"] == "store"
    # Every detected column has a likelihood value and a real/spurious label; the values
    # separate the two classes better than chance.
    assert len(result.columns) == sum(r["n_estimated"] for r in result.rows)
    # every scored true column is listed per draw, found where a detection was matched to it
    assert len(result.truth_columns) == sum(r["n_truth"] for r in result.rows)
    assert sum(t["found"] for t in result.truth_columns) == sum(
        r["all_true_positives"] for r in result.rows
    )
    assert sum(t["surface"] for t in result.truth_columns) == sum(
        r["n_surface_truth"] for r in result.rows
    )
    assert {(t["element"], t["n_atoms"]) for t in result.truth_columns} == {("Pt", 5)}
    with open(result.paths["truth_columns_csv"]) as handle:
        assert len(list(csv.DictReader(handle))) == len(result.truth_columns)
    assert result.validation.real.size + result.validation.spurious.size == len(result.columns)
    assert 0.5 < result.validation.auc <= 1.0
    for key in ("boxplot", "likelihood_plot"):
        assert imread(result.paths[key]).ndim == 3
    assert result.summary["likelihood_auc"] == result.validation.auc
    assert result.paths["summary_json"].exists()


def test_evaluate_is_reproducible_and_takes_a_baseline_name(store):
    first = evaluate(store, smoothing, n_realisations=1, indices=[2], seed=11)
    second = evaluate(store, smoothing, n_realisations=1, indices=[2], seed=11)
    assert first.rows == second.rows
    named = evaluate(store, "gaussian", n_realisations=1, indices=[2], seed=11, params={"sigma": 6})
    assert named.rows[0]["method"] == "gaussian" and math.isfinite(named.rows[0]["psnr"])


def test_the_clean_reference_scores_the_detector_on_the_noise_free_frame(store, tmp_path):
    clean = evaluate(store, CLEAN_REFERENCE, n_realisations=2, seed=3, output_dir=tmp_path)
    smoothed = evaluate(store, smoothing, n_realisations=2, seed=3)
    assert {r["method"] for r in clean.rows} == {"clean"}
    for reference, estimate in zip(clean.rows, smoothed.rows, strict=True):
        assert reference["psnr"] == math.inf  # the estimate is the truth
        # the synthetic lattice is found column for column when nothing blurs or adds noise,
        # and better than from any smoothed noisy draw
        assert reference["bulk_jaccard"] == 1.0 and reference["surface_jaccard"] == 1.0
        assert reference["surface_jaccard"] > estimate["surface_jaccard"]
    # the likelihood verdicts still read the noisy draws: the true columns are supported there
    assert sum(r["n_real"] for r in clean.rows) > 0
    with pytest.raises(InputError, match="no parameters or model"):
        evaluate(store, CLEAN_REFERENCE, params={"sigma": 2})


def test_images_without_truth_are_scored_against_the_clean_image(tmp_path):
    data = make_store(tmp_path, n_test=1, with_truth=False)
    result = evaluate(data, smoothing, n_realisations=1)
    assert result.rows[0]["truth_source"] == "clean"
    assert result.rows[0]["n_truth"] > 0
    assert {t["n_atoms"] for t in result.truth_columns} == {-1}  # unknown without the truth


def test_scoring_by_element_leaves_out_the_invisible_columns(tmp_path):
    data = make_store(tmp_path, n_test=1, faint_half=True)
    every = evaluate(data, smoothing, n_realisations=1, seed=2).rows[0]
    particle = evaluate(data, smoothing, n_realisations=1, seed=2, elements=["Pt"]).rows[0]
    # the O half cannot be detected: against all columns recall is about half
    assert every["all_recall"] < 0.65
    assert particle["all_recall"] > 0.85
    assert 0 < particle["n_truth"] < every["n_truth"]
    # detections in the flat half (nearest an O column) no longer count as false positives
    assert particle["all_false_positives"] < every["all_false_positives"] - 5
    assert particle["all_precision"] > every["all_precision"] + 0.1
    with pytest.raises(InputError, match="at least one element"):
        evaluate(data, smoothing, n_realisations=1, elements=[])


def test_a_chosen_dose_scales_the_frame_before_the_noise(store):
    seen = []

    def recording(counts: np.ndarray, pixel_size: float) -> np.ndarray:
        seen.append(float(counts.mean()))
        return smoothing(counts, pixel_size)

    own = evaluate(store, recording, n_realisations=2, indices=[2], seed=4)
    high = evaluate(store, recording, n_realisations=2, indices=[2], seed=4, dose=4.5)
    assert {r["dose"] for r in own.rows} == {0.45} and {r["dose"] for r in high.rows} == {4.5}
    assert high.summary["dose_e_per_px"] == 4.5 and own.summary["dose_e_per_px"] is None
    # ten times the electrons: the counts the denoiser sees are ten times larger on average
    assert np.mean(seen[2:]) == pytest.approx(10 * np.mean(seen[:2]), rel=0.02)
    # and the columns come out more reliably than at the image's own dose
    mean_f1 = [np.mean([r["all_f1"] for r in result.rows]) for result in (own, high)]
    assert mean_f1[1] >= mean_f1[0]
    with pytest.raises(InputError, match="dose must be a positive"):
        evaluate(store, smoothing, dose=0.0)


def test_bad_requests_are_refused(store):
    with pytest.raises(InputError, match="unknown method"):
        evaluate(store, "no-such-method")
    with pytest.raises(InputError, match="no images"):
        evaluate(store, smoothing, split="val")
    with pytest.raises(InputError, match="n_realisations"):
        evaluate(store, smoothing, n_realisations=0)
