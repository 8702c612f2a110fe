"""Training data: binning, filters, augmentation geometry, fresh Poisson noise, validation set."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sbdenoise.errors import InputError
from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.training.data import (
    augmented_crops,
    bin_sum,
    common_binning,
    dose_weights,
    draw_doses,
    largest_crop,
    load_training_data,
    nominal_pixel_size,
    select_indices,
    square_symmetry,
)
from sbdenoise.training.spec import Augmentation, Filters, TrainSpec

PLAIN = Augmentation(flips=False, rotation_deg=0.0, scale=None)


def test_bin_sum_gives_expected_counts_per_working_pixel():
    image = np.arange(7 * 9, dtype=np.float32).reshape(7, 9)
    binned = bin_sum(image, 3)
    assert binned.shape == (2, 3)
    assert binned[1, 2] == pytest.approx(image[3:6, 6:9].sum())
    assert binned.sum() == pytest.approx(image[:6, :9].sum())
    assert np.array_equal(bin_sum(image, 1), image)


def test_default_sampling_fits_every_pixel_size_of_a_jittered_subset():
    # a +-5 % pixel-size nuisance around 0.061 A, a subset whose median sits high in the range
    sizes = np.array([0.05794, 0.0614, 0.0616, 0.0617, 0.0618, 0.06405])
    with pytest.raises(InputError, match="not within 6 %"):
        common_binning(sizes, 4 * float(np.median(sizes)), Path("subset"))
    assert nominal_pixel_size(sizes) == pytest.approx(0.5 * (0.05794 + 0.06405))
    assert common_binning(sizes, 4 * nominal_pixel_size(sizes), Path("subset")) == 4


def test_working_grid_scale_and_dose(tiny_spec):
    data = load_training_data(tiny_spec, multiple=2)
    dataset = SimulatedDataset(tiny_spec.dataset)
    pixel = float(np.median(dataset.params["pixel_size"]))
    assert data.factor == 4
    assert data.sampling == pytest.approx(4 * pixel)
    assert data.train_images.shape == (2, 96, 96)
    assert data.dose == pytest.approx(0.45)
    assert data.dose_working == pytest.approx(0.45 * 16)
    assert data.input_scale == pytest.approx(1 / (0.45 * 16))
    # block sums keep the expected counts: 16 detector pixels per working pixel
    clean = dataset.image(int(data.train_indices[0]))
    assert data.train_images[0].sum().item() == pytest.approx(float(clean.sum()), rel=1e-5)
    # vacuum (the dose) maps to about 1 in network units
    scaled = data.train_images.mean().item() * data.input_scale
    assert scaled == pytest.approx(float(clean.mean()) / 0.45, rel=0.01)


def test_spec_dose_rescales_clean_images(tiny_spec):
    base = load_training_data(tiny_spec, multiple=2)
    doubled = load_training_data(tiny_spec.model_copy(update={"dose": 0.9}), multiple=2)
    assert torch.allclose(doubled.train_images, 2 * base.train_images, rtol=1e-6)
    assert doubled.input_scale == pytest.approx(base.input_scale / 2)
    assert torch.allclose(doubled.validation.targets, base.validation.targets, rtol=1e-6)


def test_filters_select_training_images(tiny_spec):
    dataset = SimulatedDataset(tiny_spec.dataset)
    spec = tiny_spec.model_copy(update={"filters": Filters(defocus_nm=(-13.0, -10.0))})
    train, val = select_indices(dataset, spec)
    assert len(train) == 1 and dataset.params["defocus_nm"][train[0]] == -12.0
    assert np.all(dataset.params["defocus_nm"][val] == -12.0)
    # structure ids select training structures; validation keeps the val split
    train_id = int(dataset.params["structure_id"][dataset.indices(split="train")[0]])
    spec = tiny_spec.model_copy(update={"filters": Filters(structure_ids=[train_id])})
    train, val = select_indices(dataset, spec)
    assert set(dataset.params["structure_id"][train]) == {train_id}
    assert len(val) == 2
    spec = tiny_spec.model_copy(update={"filters": Filters(contrast=["white"], defect=["none"])})
    with pytest.raises(InputError, match="no training images"):
        select_indices(dataset, spec)


def test_batches_depend_on_seed_step_and_rank_only(tiny_spec):
    data = load_training_data(tiny_spec, multiple=2)
    x0, y0 = data.batch(tiny_spec, step=5, rank=0)
    x1, y1 = data.batch(tiny_spec, step=5, rank=0)
    assert x0.shape == y0.shape == (2, 1, 32, 32)
    assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert not torch.equal(data.batch(tiny_spec, step=6, rank=0)[1], y0)
    assert not torch.equal(data.batch(tiny_spec, step=5, rank=1)[1], y0)
    other_seed = tiny_spec.model_copy(update={"seed": 1})
    assert not torch.equal(data.batch(other_seed, step=5, rank=0)[1], y0)


def test_fresh_noise_is_poisson_at_the_dose(tiny_spec):
    spec = tiny_spec.model_copy(update={"augmentation": PLAIN, "batch": 16, "crop": 64})
    data = load_training_data(spec, multiple=2)
    noisy, clean = data.batch(spec, step=0)
    counts = noisy / data.input_scale
    expected = clean / data.input_scale
    assert torch.equal(counts, torch.round(counts))  # whole electrons per working pixel
    residual = (counts - expected).double()
    assert abs(residual.mean().item()) < 0.02 * expected.mean().item()
    assert residual.var().item() / expected.mean().item() == pytest.approx(1.0, abs=0.03)
    # a new step draws new noise on the same crops
    again, _ = data.batch(spec, step=1)
    assert not torch.equal(again, noisy)


def test_augmented_crops_have_no_empty_corners():
    images = torch.full((2, 80, 80), 3.5)
    rng = np.random.default_rng(0)
    crops = augmented_crops(images, rng, 16, 48, Augmentation())
    assert crops.shape == (16, 1, 48, 48)
    assert torch.allclose(crops, torch.tensor(3.5), atol=1e-5)


def test_augmentation_rotates_and_rescales_within_ranges():
    """A linear ramp stays a ramp: its gradient gives the rotation angle and magnification."""
    size = 120
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float64),
        torch.arange(size, dtype=torch.float64),
        indexing="ij",
    )
    images = (1000.0 + 2.0 * xx)[None].float()
    rng = np.random.default_rng(1)
    crops = augmented_crops(images, rng, 64, 32, Augmentation(flips=False)).double()[:, 0]
    angles, gains = [], []
    for crop in crops:
        gy = (crop[1:, :] - crop[:-1, :]).mean().item()
        gx = (crop[:, 1:] - crop[:, :-1]).mean().item()
        gains.append(math.hypot(gx, gy) / 2.0)
        angles.append(math.degrees(math.atan2(gy, gx)))
        residual = crop - crop.mean() - gy * (yy[:32, :32] - 15.5) - gx * (xx[:32, :32] - 15.5)
        # cubic convolution (a = -0.75) keeps a ramp a ramp within 0.1 px (slope 2 per px)
        assert residual.abs().max().item() < 0.2
    assert max(np.abs(angles)) <= 45.0 + 1e-3
    assert max(np.abs(angles)) > 35.0 and min(angles) < -20 and max(angles) > 20
    # a source step of 1/m pixels per output pixel: the gradient scales by 1/m
    assert 1 / 1.055 - 1e-4 <= min(gains) and max(gains) <= 1 / 0.955 + 1e-4
    assert max(gains) - min(gains) > 0.05


def test_flips_only_permute_pixels():
    images = torch.rand(1, 40, 40)
    rng = np.random.default_rng(2)
    crops = augmented_crops(images, rng, 8, 40, Augmentation(rotation_deg=0.0, scale=None))
    source = images[0]
    variants = [source, source.flip(0), source.flip(1), source.flip(0).flip(1)]
    for crop in crops[:, 0]:
        assert any(torch.equal(crop, v) for v in variants)
    assert not all(torch.equal(c, source) for c in crops[:, 0])


def test_quarter_turns_with_flips_reach_all_eight_symmetries_and_nothing_else():
    images = torch.rand(1, 24, 24)
    source = images[0]
    symmetries = [torch.rot90(v, k, dims=(0, 1)) for v in (source, source.T) for k in range(4)]
    augmentation = Augmentation(rotation_deg=0.0, scale=None, quarter_turns=True)
    crops = augmented_crops(images, np.random.default_rng(5), 64, 24, augmentation)
    seen = set()
    for crop in crops[:, 0]:
        matches = [i for i, v in enumerate(symmetries) if torch.equal(crop, v)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))


def test_quarter_turns_leave_the_other_draws_unchanged():
    images = torch.rand(3, 60, 60)
    plain = augmented_crops(images, np.random.default_rng(9), 6, 32, Augmentation(flips=False))
    turned = augmented_crops(
        images, np.random.default_rng(9), 6, 32, Augmentation(flips=False, quarter_turns=True)
    )
    for a, b in zip(plain[:, 0], turned[:, 0], strict=True):
        assert any(torch.equal(torch.rot90(a, k, dims=(0, 1)), b) for k in range(4))
    assert largest_crop(202, Augmentation(rotation_deg=8.0, quarter_turns=True)) > largest_crop(
        202, Augmentation(rotation_deg=90.0)
    )


def test_turned_validation_crops_spread_their_angles_evenly_over_the_range():
    from sbdenoise.training.data import _turned_validation_crops

    yy, xx = np.mgrid[:120, :120].astype(np.float32)
    ramp = np.stack([xx + 0.0 * yy])  # brightness rising along x only
    count, size = 9, 48
    rows = np.full(count, 36)
    turned = _turned_validation_crops(ramp, np.zeros(count, int), rows, rows, size, 30.0)
    angles = []
    for crop in turned:
        gy, gx = np.gradient(crop.astype(np.float64))
        inner = (slice(4, -4), slice(4, -4))
        angles.append(np.degrees(np.arctan2(gy[inner].mean(), gx[inner].mean())))
        assert np.hypot(gy[inner].mean(), gx[inner].mean()) == pytest.approx(1.0, abs=0.01)
    assert np.allclose(
        np.sort(np.abs(angles)), np.sort(np.abs(np.linspace(-30, 30, count))), atol=0.5
    )
    assert min(angles) < -29 and max(angles) > 29
    with pytest.raises(InputError, match="val_rotation_deg"):
        _turned_validation_crops(ramp, np.zeros(3, int), rows[:3], rows[:3], 100, 30.0)


def test_crop_too_large_for_augmentation_is_refused(tiny_spec):
    assert largest_crop(96, Augmentation()) == 62
    assert largest_crop(96, PLAIN) == 96
    with pytest.raises(InputError, match="--crop 62"):
        load_training_data(tiny_spec.model_copy(update={"crop": 64}), multiple=2)
    data = load_training_data(
        tiny_spec.model_copy(update={"crop": 96, "augmentation": PLAIN}), multiple=2
    )
    assert data.batch(tiny_spec.model_copy(update={"crop": 96, "augmentation": PLAIN}), 0)[
        0
    ].shape == (2, 1, 96, 96)


def test_validation_set_is_fixed_and_scored_at_detector_scale(tiny_spec):
    first = load_training_data(tiny_spec, multiple=2).validation
    second = load_training_data(tiny_spec, multiple=2).validation
    assert len(first) == 4
    assert torch.equal(first.inputs, second.inputs)
    assert first.to_detector == pytest.approx(0.45)
    # binned Poisson noise at the detector scale: MSE = mean(clean) / 16
    scale = torch.from_numpy(first.to_detector)[:, None, None, None]
    truth = first.targets.double() * scale
    expected_db = 10 * math.log10(16 / truth.mean().item())
    assert first.noisy_psnr() == pytest.approx(expected_db, abs=0.3)
    perfect = first.psnr_values(first.targets + 1e-3 / scale.float())
    assert np.allclose(perfect, 60.0, atol=0.01)


def test_train_spec_yaml_round_trip_and_checks(tmp_path):
    spec = TrainSpec(
        dataset="/data/x",
        architecture_kwargs={"scales": 3},
        epochs=5,
        filters=Filters(contrast=["white"], defocus_nm=(-20, -6)),
        augmentation=Augmentation(scale=None),
    )
    path = tmp_path / "train.yaml"
    spec.to_yaml(path)
    assert TrainSpec.from_yaml(path) == spec
    assert spec.total_steps(10) == 50
    assert TrainSpec(dataset="x", steps=7).total_steps(10) == 7
    with pytest.raises(ValueError, match="not both"):
        TrainSpec(dataset="x", steps=5, epochs=1)
    with pytest.raises(ValueError, match="early_stop_patience"):
        TrainSpec(dataset="x", lr_patience=5, early_stop_patience=5)
    assert spec.filters.criteria() == {"contrast": ["white"], "defocus_nm": (-20.0, -6.0)}


def test_dose_range_draws_a_dose_per_crop_and_normalises_by_the_crop_mean(range_spec):
    spec = range_spec.model_copy(update={"augmentation": PLAIN, "batch": 64, "crop": 32})
    data = load_training_data(spec, multiple=2)
    # stored at a vacuum of one count per working pixel; range in counts per working pixel
    assert data.train_images.mean().item() == pytest.approx(1.0, rel=0.05)
    low, high = data.dose_range_working
    assert low == pytest.approx(40.0 * data.sampling**2)
    assert high == pytest.approx(400.0 * data.sampling**2)
    noisy, clean = data.batch(spec, step=0)
    # inputs are normalised by their own mean: each crop's mean input is 1
    assert torch.allclose(noisy.mean(dim=(1, 2, 3)), torch.ones(64), atol=1e-5)
    # the crop's counts come back as whole electrons at a dose inside the range, log-spread
    means = clean.mean(dim=(1, 2, 3)) / noisy.mean(dim=(1, 2, 3))  # target mean / input mean
    assert torch.allclose(means, torch.ones(64), atol=0.1)
    counts_mean = []
    for k in range(64):
        # recover counts: neighbouring input levels differ by one electron / mean count
        levels = torch.unique(noisy[k].double())
        one = torch.diff(levels).min()
        counts = noisy[k].double() / one
        assert torch.allclose(counts, torch.round(counts), atol=1e-3)
        counts_mean.append(counts.mean().item())
    counts_mean = np.array(counts_mean)
    assert counts_mean.min() > 0.8 * low and counts_mean.max() < 1.25 * high
    # log-uniform: about half the crops below the geometric middle
    middle = math.sqrt(low * high)
    assert 0.3 < np.mean(counts_mean < middle) < 0.7


def test_dose_range_validation_scores_every_dose_on_one_scale(range_spec):
    validation = load_training_data(range_spec, multiple=2).validation
    low, high = 40.0, 400.0
    assert len(set(np.round(validation.doses, 6))) == 4
    # the clean targets at the detector scale of the reference dose have a vacuum near 0.45
    scale = torch.from_numpy(validation.to_detector)[:, None, None, None]
    truth = validation.targets.double() * scale
    means = truth.mean(dim=(1, 2, 3)).numpy()
    assert np.allclose(means, means[0], rtol=0.15)
    # noisier crops (lower dose) score a lower raw PSNR
    raw = [
        float(validation.psnr_values(validation.inputs[[k]], np.array([k]))[0])
        for k in range(len(validation))
    ]
    order = np.argsort(validation.doses)
    assert raw[order[0]] < raw[order[-1]]
    assert low < high


def test_fixed_normalization_refuses_a_dose_range(tiny_spec):
    with pytest.raises(ValueError, match="cannot serve a dose range"):
        TrainSpec.model_validate(
            {**tiny_spec.model_dump(), "dose_range": (40.0, 400.0), "normalization": "fixed"}
        )


def test_dose_weights_follow_each_crops_dose_and_average_one(range_spec):
    rng = np.random.default_rng(3)
    dose_range = (2.0, 20.0)
    doses = draw_doses(rng, 20000, dose_range)
    weights = dose_weights(doses, dose_range)
    # proportional to dose, mean one over the log-uniform draw
    assert np.allclose(weights / doses, weights[0] / doses[0], rtol=1e-5)
    assert weights.mean() == pytest.approx(1.0, rel=0.02)
    assert weights.max() / weights.min() == pytest.approx(doses.max() / doses.min(), rel=1e-4)
    # the batch carries them: same crops as batch(), weights rise with the crop's dose
    spec = range_spec.model_copy(update={"augmentation": PLAIN, "batch": 16, "crop": 32})
    data = load_training_data(spec, multiple=2)
    uniform = data.weighted_batch(spec, step=3)
    assert torch.equal(uniform[2], torch.ones(16))
    weighted = data.weighted_batch(spec.model_copy(update={"loss_weighting": "dose"}), step=3)
    assert torch.equal(weighted[0], uniform[0]) and torch.equal(weighted[1], data.batch(spec, 3)[1])
    assert weighted[2].max() > 3 * weighted[2].min()
    with pytest.raises(ValueError, match="loss_weighting 'dose'"):
        TrainSpec(dataset="x", dose_range=None, normalization="fixed", loss_weighting="dose")


def test_validation_crops_depend_on_the_validation_seed_only(tiny_spec):
    base = load_training_data(tiny_spec, multiple=2).validation
    other_seed = load_training_data(tiny_spec.model_copy(update={"seed": 7}), multiple=2)
    torch.testing.assert_close(other_seed.validation.inputs, base.inputs, rtol=0, atol=0)
    torch.testing.assert_close(other_seed.validation.targets, base.targets, rtol=0, atol=0)
    moved = load_training_data(tiny_spec.model_copy(update={"val_seed": 7}), multiple=2)
    assert not torch.equal(moved.validation.targets, base.targets)


def test_max_train_images_draws_a_seeded_subset_of_the_filtered_images(tiny_spec):
    dataset = SimulatedDataset(tiny_spec.dataset)
    everything, val = select_indices(dataset, tiny_spec)
    capped = tiny_spec.model_copy(update={"filters": Filters(max_train_images=1)})
    first, capped_val = select_indices(dataset, capped)
    assert len(everything) == 2 and len(first) == 1 and set(first) <= set(everything)
    assert np.array_equal(capped_val, val)  # validation images are not capped
    picks = {
        int(select_indices(dataset, capped.model_copy(update={"seed": s}))[0][0]) for s in range(8)
    }
    assert picks == set(everything.tolist())  # the seed chooses which
    assert np.array_equal(select_indices(dataset, capped)[0], first)


def test_square_symmetry_gives_the_eight_distinct_symmetries():
    crop = np.arange(16.0).reshape(4, 4)
    images = [square_symmetry(crop, k) for k in range(8)]
    assert len({image.tobytes() for image in images}) == 8
    assert np.array_equal(images[1], np.rot90(crop))
    assert np.array_equal(images[4], crop.T)
    with pytest.raises(ValueError, match="0 to 7"):
        square_symmetry(crop, 8)


def test_turned_validation_crops_are_the_upright_crops_turned(range_spec):
    spec = range_spec.model_copy(update={"val_crops": 32})
    upright = load_training_data(spec, multiple=2).validation
    turned = load_training_data(spec.model_copy(update={"val_orientations": True}), multiple=2)
    turned = turned.validation
    np.testing.assert_array_equal(turned.doses, upright.doses)
    changed = 0
    for k in range(32):
        original = upright.targets[k, 0].numpy()
        original = original / original.mean()
        got = turned.targets[k, 0].numpy()
        got = got / got.mean()  # targets are scaled by each noisy crop's own mean
        np.testing.assert_allclose(got, square_symmetry(original, (k // 4) % 8), rtol=1e-5)
        changed += not np.allclose(got, original, rtol=1e-3)
    assert changed >= 20  # 28 of the 32 crops are turned or mirrored


def test_vacuum_crops_are_flat_at_their_dose_and_leave_the_other_draws_alone(range_spec):
    spec = range_spec.model_copy(update={"augmentation": PLAIN, "batch": 64, "crop": 32})
    data = load_training_data(spec, multiple=2)
    plain_noisy, plain_clean = data.batch(spec, step=5)
    mixed = spec.model_copy(update={"vacuum_crops": 0.25})
    noisy, clean = data.batch(mixed, step=5)
    flat = clean.flatten(1).std(dim=1) == 0
    # about a quarter of the crops are pure vacuum; the others are the plain batch's crops
    assert 8 <= int(flat.sum()) <= 26
    assert not bool((plain_clean.flatten(1).std(dim=1) == 0).any())
    # the other crops are those of the plain batch, at the same doses (the targets are scaled by
    # the noisy crop's own mean, so compare them up to that factor)
    ratio = clean[~flat] / plain_clean[~flat]
    per_crop = ratio.flatten(1)
    assert torch.allclose(per_crop, per_crop[:, :1], rtol=1e-5)
    assert torch.allclose(per_crop[:, 0], torch.ones(len(per_crop)), atol=0.1)
    # a vacuum crop's input is Poisson noise around its flat target (frame-mean normalised)
    for k in torch.nonzero(flat).flatten().tolist():
        assert noisy[k].mean().item() == pytest.approx(1.0, abs=1e-5)
        assert clean[k].mean().item() == pytest.approx(1.0, abs=0.1)
        assert noisy[k].std().item() > 0.05
    # without vacuum crops nothing changes: the default draws no extra random numbers
    again = data.batch(spec.model_copy(update={"vacuum_crops": 0.0}), step=5)
    assert torch.equal(again[0], plain_noisy) and torch.equal(again[1], plain_clean)
    with pytest.raises(ValueError, match="vacuum_crops"):
        TrainSpec(dataset="x", dose_range=None, normalization="fixed", vacuum_crops=0.1)
