"""Inference: tiles equal the whole image, fields limit what the network sees, any size works,
long stacks stream in bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from sbdenoise.denoise.inference import (
    denoise_array,
    denoise_stack,
    field_tiles,
    resolve_field,
    tile_layout,
)
from sbdenoise.errors import InputError
from sbdenoise.metrics import psnr
from sbdenoise.nn import build_model
from sbdenoise.nn.card import ModelCard, make_card
from sbdenoise.synthetic import synthetic_lattice
from sbdenoise.training.precision import cpu_has_bf16

PIXEL = 0.0609  # detector pixel, angstrom
SAMPLING = 2 * PIXEL  # working sampling of the test models: 2 x 2 binning


def _model(
    architecture: str = "unet", seed: int = 0, **kwargs
) -> tuple[torch.nn.Module, ModelCard]:
    kwargs = kwargs or {"scales": 3, "base_channels": 4}
    torch.manual_seed(seed)
    model = build_model(architecture, **kwargs).eval()
    dose = 0.45 * 4
    card = make_card(model, architecture, kwargs, SAMPLING, dose, input_scale=1 / dose)
    return model, card


def _noisy(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(0.45, shape).astype(np.uint16)


def test_tiled_equals_whole_image():
    model, card = _model()
    # Weights with ReLU gain (as after training): the output depends on its whole receptive
    # field, not only on the few central pixels that dominate at PyTorch's default init.
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    frame = _noisy((301, 341))  # odd; 151 x 171 on the working grid
    whole = denoise_array(model, card, frame, PIXEL, precision="fp32")
    scale = np.abs(whole).max()
    assert card.receptive_field_px == 52
    for tile in (96, 100, 128):  # 96: the smallest tile for this receptive field
        tiled = denoise_array(model, card, frame, PIXEL, tile=tile, batch_size=3, precision="fp32")
        assert np.abs(tiled - whole).max() / scale < 1e-4
    # The test can fail: with a card that understates the receptive field, tiles lack context.
    liar = card.model_copy(update={"receptive_field_px": 4})
    tiled = denoise_array(model, liar, frame, PIXEL, tile=48, precision="fp32")
    assert np.abs(tiled - whole).max() / scale > 1e-2


def test_tile_too_small_for_receptive_field():
    model, card = _model()
    with pytest.raises(InputError, match="at least 96"):
        denoise_array(model, card, _noisy((301, 341)), PIXEL, tile=64)


def _relu_gain(model: torch.nn.Module) -> None:
    """Weights with ReLU gain, so the output depends on its whole receptive field."""
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")


def test_field_limits_what_each_output_pixel_sees():
    model, card = _model(scales=4, base_channels=4)
    _relu_gain(model)
    assert card.receptive_field_px == 108  # working pixels: reaches 54 px to each side
    # On the working grid itself (no binning, whose return to the input grid spreads a change a
    # little everywhere), a bump 50 px away on each axis is within the whole network's reach
    frame = _noisy((120, 120))
    bumped = frame.copy()
    bumped[20:22, 20:22] += 20
    probe = (slice(70, 72), slice(70, 72))
    whole = denoise_array(model, card, frame, SAMPLING, precision="fp32")
    whole_bumped = denoise_array(model, card, bumped, SAMPLING, precision="fp32")
    assert np.abs(whole_bumped[probe] - whole[probe]).max() > 1e-6 * np.abs(whole).max()
    # ... but no tile of 48 px holds both places
    field = denoise_array(model, card, frame, SAMPLING, precision="fp32", field=48)
    field_bumped = denoise_array(model, card, bumped, SAMPLING, precision="fp32", field=48)
    np.testing.assert_array_equal(field_bumped[probe], field[probe])
    assert np.abs(field_bumped[20:22, 20:22] - field[20:22, 20:22]).max() > 0.1
    assert field.shape == frame.shape and np.isfinite(field).all()


def test_field_as_large_as_the_frame_is_the_whole_frame():
    model, card = _model()
    frame = _noisy((150, 170))  # 75 x 85 working pixels, padded to 76 x 88
    whole = denoise_array(model, card, frame, PIXEL, precision="fp32")
    same = denoise_array(model, card, frame, PIXEL, precision="fp32", field=88)
    np.testing.assert_array_equal(same, whole)
    smaller = denoise_array(model, card, frame, PIXEL, precision="fp32", field=40)
    assert not np.array_equal(smaller, whole)


def test_field_plan_and_training_field():
    plan = field_tiles(128, 16)
    assert (plan.side, plan.context, plan.blend) == (128, 24, 16)
    assert field_tiles(130, 16).side == 128  # rounded down: never more than the field
    with pytest.raises(InputError, match=r"too small.*at least 64"):
        field_tiles(40, 16)
    assert field_tiles(64, 16).side == 64  # the smallest it names does tile
    model, card = _model()
    with pytest.raises(InputError, match="does not record the crop"):
        resolve_field("training", card)
    trained = card.model_copy(update={"training_data": {"crop_px": 64}})
    assert resolve_field("training", trained) == 64
    assert resolve_field(None, trained) is None
    for bad in (0, -3, True, "large", 2.5):
        with pytest.raises(InputError, match="field must be"):
            resolve_field(bad, trained)
    frame = _noisy((160, 160))
    with pytest.raises(InputError, match="not both"):
        denoise_array(model, trained, frame, PIXEL, tile=128, field=64)
    by_name = denoise_array(model, trained, frame, PIXEL, precision="fp32", field="training")
    by_size = denoise_array(model, trained, frame, PIXEL, precision="fp32", field=64)
    np.testing.assert_array_equal(by_name, by_size)


def test_tile_weights_cover_every_pixel():
    layout = tile_layout((152, 172), 96, 32, 16)
    total = np.zeros((152, 172))
    for row, col, weight in layout:
        assert row % 4 == 0 and col % 4 == 0  # tile corners on the pooling grid
        total[row : row + weight.shape[0], col : col + weight.shape[1]] += weight
    assert total.min() > 0.1


@pytest.mark.parametrize("shape", [(16, 16), (17, 23), (101, 77), (64, 255)])
@pytest.mark.parametrize(
    ("architecture", "kwargs"),
    [
        ("unet", {"scales": 4, "base_channels": 4}),
        ("dncnn", {"depth": 5, "channels": 4}),
        ("small-unet", {"channels": 4}),
    ],
)
def test_arbitrary_sizes(shape, architecture, kwargs):
    model, card = _model(architecture, **kwargs)
    out = denoise_array(model, card, _noisy(shape), PIXEL)
    assert out.shape == shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_identity_network_returns_the_image_in_input_units():
    """With a network that returns its input, denoising is the lossless bin-unbin round trip."""
    model, card = _model("dncnn", depth=3, channels=2, residual=True)
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
    clean = synthetic_lattice((200, 180), pixel_size=PIXEL).expectation
    out = denoise_array(model, card, clean, PIXEL, precision="fp32")
    assert psnr(out, clean, clip=False) > 50.0
    # The input scale is undone: a card with another scale gives the same answer.
    other = card.model_copy(update={"input_scale": 5.0})
    np.testing.assert_allclose(
        denoise_array(model, other, clean, PIXEL, precision="fp32"), out, atol=1e-5
    )


def test_bf16_arithmetic_stays_close_to_fp32():
    """bf16 autocast moves a trained-like network's output by well under a percent, not zero."""
    model, card = _model(seed=1)
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    frame = _noisy((128, 112), seed=2)
    exact = denoise_array(model, card, frame, PIXEL, precision="fp32")
    fast = denoise_array(model, card, frame, PIXEL, precision="bf16")
    relative = np.sqrt(np.mean((fast - exact) ** 2)) / np.sqrt(np.mean(exact**2))
    assert 0.0 < relative < 0.02
    auto = denoise_array(model, card, frame, PIXEL, precision="auto")
    expected = fast if cpu_has_bf16() else exact
    np.testing.assert_allclose(auto, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError, match="precision must be auto, bf16 or fp32"):
        denoise_array(model, card, frame, PIXEL, precision="fp16", source="frame.tif")


def test_bad_inputs_raise_input_error():
    model, card = _model()
    with_nan = _noisy((64, 64)).astype(np.float32)
    with_nan[5, 5] = np.nan
    cases = {
        "NaN": with_nan,
        "1-D": np.ones(256),
        "4-D": np.ones((2, 2, 32, 32)),
        "tiny": np.ones((8, 8)),
        "stack": np.ones((3, 32, 32)),
        "text": np.array([["a"] * 32] * 32),
    }
    for name, bad in cases.items():
        with pytest.raises(InputError) as info:
            denoise_array(model, card, bad, PIXEL, source="frame.tif")
        assert "frame.tif" in str(info.value), name
    # a pixel size between integer binnings is resampled now; a coarser input is still refused
    assert denoise_array(model, card, _noisy((64, 64)), 0.05).shape == (64, 64)
    with pytest.raises(InputError, match="coarser"):
        denoise_array(model, card, _noisy((64, 64)), 2 * SAMPLING)
    with pytest.raises(InputError, match="at least 8"):
        denoise_array(
            model, card.model_copy(update={"sampling": 8 * PIXEL}), _noisy((40, 40)), PIXEL
        )
    with pytest.raises(InputError, match="frame 1"):
        denoise_stack(model, card, [_noisy((32, 32)), with_nan], PIXEL, progress=False)
    with pytest.raises(InputError, match="frames, y, x"):
        denoise_stack(model, card, np.ones((2, 2, 32, 32)), PIXEL, progress=False)
    with pytest.raises(InputError, match="out has shape"):
        denoise_stack(model, card, np.ones((3, 32, 32)), PIXEL, out=np.ones((2, 32, 32)))


def test_stack_from_iterable_equals_frame_by_frame():
    model, card = _model()
    frames = [_noisy((48, 40), seed) for seed in range(3)]
    result = denoise_stack(model, card, (f for f in frames), PIXEL, progress=False)
    assert result.shape == (3, 48, 40)
    for frame, denoised in zip(frames, result, strict=True):
        np.testing.assert_array_equal(denoised, denoise_array(model, card, frame, PIXEL))
    in_memory = denoise_stack(model, card, np.stack(frames), PIXEL, progress=False)
    np.testing.assert_array_equal(in_memory, result)


#: Bound on the peak of Python/numpy allocations while streaming the stack below, in bytes.
#: The stack is 16.4 MB on disk (uint16) and 32.8 MB as float32 output; one frame's work is well
#: under 1 MB, so the bound is a twelfth of the input file and would fail if the stack (or the
#: output) were held in memory. tracemalloc follows numpy buffers, not torch's allocator; a
#: frame's network activations are freed after each frame.
STREAM_PEAK_BOUND = 2_000_000


@pytest.mark.slow
def test_memmap_stack_streams_in_bounded_memory(tmp_path):
    n, height, width = 500, 128, 128
    source = np.lib.format.open_memmap(
        tmp_path / "stack.npy", mode="w+", dtype=np.uint16, shape=(n, height, width)
    )
    rng = np.random.default_rng(0)
    for start in range(0, n, 50):
        source[start : start + 50] = rng.poisson(0.45, (50, height, width))
    source.flush()
    del source
    stack = np.load(tmp_path / "stack.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(
        tmp_path / "denoised.npy", mode="w+", dtype=np.float32, shape=(n, height, width)
    )
    model, card = _model("unet", scales=2, base_channels=4)
    denoise_array(model, card, stack[0], PIXEL)  # warm up torch outside the measurement

    tracemalloc.start()
    try:
        result = denoise_stack(model, card, stack, PIXEL, out=out, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"streaming {n} frames: tracemalloc peak {peak / 1e6:.2f} MB")
    assert result is out
    assert peak < STREAM_PEAK_BOUND < stack.nbytes / 8
    del out
    written = np.load(tmp_path / "denoised.npy", mmap_mode="r")
    for index in (0, 257, n - 1):
        np.testing.assert_array_equal(
            written[index], denoise_array(model, card, stack[index], PIXEL)
        )


def _frame_mean_card(card: ModelCard) -> ModelCard:
    return card.model_copy(
        update={"normalization": "frame_mean", "dose_range_per_area": (40.0, 400.0)}
    )


def test_frame_mean_models_are_equivariant_to_the_dose():
    """A dose-normalised model sees counts / their mean: k x the frame gives k x the result."""
    model, card = _model(seed=3)
    card = _frame_mean_card(card)
    frame = _noisy((96, 80), seed=4).astype(np.float32)
    once = denoise_array(model, card, frame, PIXEL)
    scaled = denoise_array(model, card, 3.0 * frame, PIXEL)
    np.testing.assert_allclose(scaled, 3.0 * once, rtol=1e-4, atol=1e-5)
    # a fixed-scale model is not: its network sees other values
    fixed = denoise_array(model, card.model_copy(update={"normalization": "fixed"}), frame, PIXEL)
    fixed3 = denoise_array(
        model, card.model_copy(update={"normalization": "fixed"}), 3.0 * frame, PIXEL
    )
    assert not np.allclose(fixed3, 3.0 * fixed, rtol=1e-2)


def test_frame_mean_model_refuses_an_empty_frame():
    model, card = _model()
    with pytest.raises(InputError, match="no dose to normalise by"):
        denoise_array(model, _frame_mean_card(card), np.zeros((64, 64)), PIXEL)


def test_card_dose_range_per_working_pixel():
    _, card = _model()
    assert card.dose_range_working == (pytest.approx(0.45 * 4), pytest.approx(0.45 * 4))
    ranged = _frame_mean_card(card)
    low, high = ranged.dose_range_working
    assert low == pytest.approx(40.0 * SAMPLING**2) and high == pytest.approx(400.0 * SAMPLING**2)


def test_dose_warning_follows_the_trained_range_per_area():
    from sbdenoise.denoise.api import dose_notes

    _, card = _model()
    ranged = _frame_mean_card(card)
    rng = np.random.default_rng(0)
    # 0.45 e-/px at 0.061 A/px is 121 e-/A^2; at half the pixel size (a quarter of the area) the
    # same dose per area is 0.11 e-/px: both inside 40-400 e-/A^2
    for pixel, dose, warned in (
        (PIXEL, 0.45, False),
        (PIXEL, 1.4, False),
        (PIXEL, 3.0, True),
        (PIXEL, 0.05, True),
        (PIXEL / 2, 0.11, False),
    ):
        frame = rng.poisson(dose, (128, 128))
        notes = dose_notes(frame, ranged, pixel)
        assert bool(notes) == warned, (pixel, dose, notes)
        if warned:
            assert "e-/A^2" in notes[0]


def test_field_note_only_for_frames_wider_than_the_training_crop():
    from sbdenoise.denoise.api import field_notes

    _, card = _model()
    trained = card.model_copy(update={"training_data": {"crop_px": 64}})
    # 2 x 2 binning: 128 input px are the 64 working px of a training crop
    assert field_notes((128, 128), trained, PIXEL, None) == []
    note = field_notes((130, 300), trained, PIXEL, None)
    assert len(note) == 1 and "65x150 px" in note[0] and "field=training" in note[0]
    assert field_notes((130, 300), trained, PIXEL, "training") == []  # already tiled
    assert field_notes((130, 300), trained, None, None) == []  # no pixel size, no grid
    assert field_notes((130, 300), card, PIXEL, None) == []  # crop not recorded
    # a finer pixel bins more: 260 px at half the pixel size are 65 working px again
    assert "65x" in field_notes((260, 260), trained, PIXEL / 2, None)[0]


class _ShiftRight(torch.nn.Module):
    """A 'network' that is not mirror-symmetric: it moves the image one pixel to the right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, shifts=1, dims=-1)


def test_ensemble_averages_the_network_over_mirrored_inputs():
    _, card = _model()
    card = card.model_copy(update={"receptive_field_px": 3})
    clean = synthetic_lattice((96, 96), pixel_size=PIXEL).expectation

    def working(frame: np.ndarray) -> np.ndarray:
        """A frame on the 2 x 2 working grid, in network units."""
        return frame.reshape(48, 2, 48, 2).sum(axis=(1, 3)) * card.input_scale

    plain = working(denoise_array(_ShiftRight(), card, clean, PIXEL, precision="fp32", ensemble=1))
    mirrored = working(
        denoise_array(_ShiftRight(), card, clean, PIXEL, precision="fp32", ensemble=2)
    )
    # One pass shifts right; the mirrored pass shifts left: the mean is a symmetric blur.
    right = np.roll(working(clean), 1, axis=1)
    both = 0.5 * (right + np.roll(working(clean), -1, axis=1))
    inner = (slice(None), slice(2, -2))  # the padded edges are not compared
    assert np.abs(plain - right)[inner].max() < 1e-3
    assert np.abs(mirrored - both)[inner].max() < 1e-3
    assert np.abs(mirrored - right)[inner].max() > 0.1


@pytest.mark.parametrize("ensemble", [2, 4, 8])
def test_ensemble_of_a_symmetric_network_changes_nothing(ensemble):
    """Each transform is undone exactly: a network that commutes with them gives the same output."""
    model, card = _model("dncnn", depth=3, channels=2, residual=True)
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
    frame = _noisy((130, 94))  # not square: quarter turns swap the sides
    plain = denoise_array(model, card, frame, PIXEL, precision="fp32", ensemble=1)
    assembled = denoise_array(model, card, frame, PIXEL, precision="fp32", ensemble=ensemble)
    assert assembled.shape == frame.shape
    np.testing.assert_allclose(assembled, plain, atol=1e-5)


@pytest.mark.parametrize("ensemble", [0, 3, 16, 2.5])
def test_ensemble_sizes_outside_the_group_are_refused(ensemble):
    model, card = _model()
    with pytest.raises(InputError, match="ensemble must be one of 1, 2, 4, 8"):
        denoise_array(model, card, _noisy((64, 64)), PIXEL, ensemble=ensemble)


def test_the_model_is_put_in_eval_mode_and_the_inference_layout():
    model, card = _model()
    model.train()
    frame = _noisy((128, 128))
    first = denoise_array(model, card, frame, PIXEL, precision="fp32")
    assert not model.training  # eval mode: running statistics, not the frame's
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    model.train()  # already laid out: only the mode is set again
    second = denoise_array(model, card, frame, PIXEL, precision="fp32")
    assert not model.training
    np.testing.assert_array_equal(first, second)
