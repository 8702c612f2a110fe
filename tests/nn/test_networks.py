"""Networks: shapes, measured receptive fields, bias-free homogeneity, parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch.func import jvp

from sbdenoise.errors import InputError
from sbdenoise.nn import (
    BiasFreeBatchNorm2d,
    build_model,
    measure_receptive_field,
    parameter_count,
    required_multiple,
)

SMALL = [
    ("unet", {"scales": 2, "base_channels": 4}),
    ("unet", {"scales": 4, "base_channels": 4, "bias_free": True}),
    ("unet", {"scales": 6, "base_channels": 2}),
    ("dncnn", {"channels": 8}),
    ("dncnn", {"depth": 5, "channels": 8, "residual": False, "bias_free": True}),
    ("small-unet", {"channels": 4}),
    ("small-unet", {"channels": 4, "bias_free": True, "residual": True}),
]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the test machine's cores are shared, and contention slows torch a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _randomise_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """Give batch norms the statistics and affine terms a trained network would have."""
    generator = torch.Generator().manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, (torch.nn.BatchNorm2d, BiasFreeBatchNorm2d)):
            n = layer.num_features
            layer.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            layer.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.copy_(0.2 * torch.randn(layer.num_features, generator=generator))
            layer.bias.data.copy_(0.2 * torch.randn(layer.num_features, generator=generator))


@pytest.mark.parametrize(("architecture", "kwargs"), SMALL)
def test_output_shape_equals_input_shape(architecture, kwargs):
    torch.manual_seed(0)
    model = build_model(architecture, **kwargs)
    x = torch.rand(2, 1, 64, 96)
    assert model(x).shape == x.shape
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == x.shape
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_required_multiple():
    assert required_multiple(build_model("unet", scales=5, base_channels=2)) == 16
    assert required_multiple(build_model("unet", scales=2, base_channels=2)) == 2
    assert required_multiple(build_model("dncnn", channels=4)) == 1
    assert required_multiple(build_model("small-unet", channels=4)) == 2
    with pytest.raises(InputError, match="multiples of 8"):
        build_model("unet", scales=4, base_channels=2)(torch.rand(1, 1, 36, 40))


def test_bad_architecture_and_arguments():
    with pytest.raises(InputError, match="unknown architecture"):
        build_model("resnet")
    with pytest.raises(InputError, match="scales"):
        build_model("unet", scales=7)
    with pytest.raises(InputError, match="bad arguments"):
        build_model("dncnn", scales=3)


@pytest.mark.slow
def test_unet_receptive_field_grows_with_scales():
    fields = {}
    for scales in (2, 4, 6):
        torch.manual_seed(scales)
        model = build_model("unet", scales=scales, base_channels=4)
        fields[scales] = measure_receptive_field(model, size=512 if scales == 6 else 128)
    print(f"measured UNet receptive fields (px): {fields}")
    assert fields[2] < fields[4] < fields[6]
    # Each level roughly doubles the field; scales 6 reaches several hundred pixels.
    assert fields[2] >= 15 and fields[6] > 8 * fields[2]


def test_dncnn20_receptive_field_is_41():
    torch.manual_seed(0)
    model = build_model("dncnn", depth=20, channels=16)
    assert measure_receptive_field(model, size=64) == 41
    # A shallower one measures 2 * depth + 1 as well: the measurement is not a constant.
    assert measure_receptive_field(build_model("dncnn", depth=7, channels=8), size=64) == 15


def test_receptive_field_measurement_leaves_model_alone():
    model = build_model("small-unet", channels=4)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    field = measure_receptive_field(model, size=64)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert 30 < field < 64


BIAS_FREE = [
    ("unet", {"scales": 3, "base_channels": 4}),
    ("dncnn", {"depth": 6, "channels": 8}),
    ("small-unet", {"channels": 4}),
]


def _homogeneity_errors(model: torch.nn.Module) -> tuple[float, float]:
    """Relative errors of f(2y) = 2 f(y) and of Euler's identity f(y) = J(y) y."""
    generator = torch.Generator().manual_seed(1)
    y = 0.2 + torch.rand((1, 1, 48, 48), generator=generator)
    with torch.no_grad():
        f = model(y)
        f2 = model(2 * y)
    scale = f.abs().max()
    homogeneity = float((f2 - 2 * f).abs().max() / (2 * scale))
    value, tangent = jvp(model, (y,), (y,))
    euler = float((value - tangent).detach().abs().max() / scale)
    return homogeneity, euler


@pytest.mark.parametrize(("architecture", "kwargs"), BIAS_FREE)
def test_bias_free_networks_are_homogeneous(architecture, kwargs):
    torch.manual_seed(0)
    model = build_model(architecture, bias_free=True, **kwargs)
    _randomise_norms(model)
    model.eval()
    homogeneity, euler = _homogeneity_errors(model)
    assert homogeneity < 1e-4
    assert euler < 1e-3


@pytest.mark.parametrize(("architecture", "kwargs"), BIAS_FREE)
def test_networks_with_bias_are_not_homogeneous(architecture, kwargs):
    """The same checks fail for the ordinary networks, so they can detect a bias."""
    torch.manual_seed(0)
    model = build_model(architecture, bias_free=False, **kwargs)
    _randomise_norms(model)
    model.eval()
    homogeneity, euler = _homogeneity_errors(model)
    assert homogeneity > 1e-2
    assert euler > 1e-2


def test_bias_free_batch_norm_only_rescales():
    layer = BiasFreeBatchNorm2d(3)
    x = 5.0 + 2.0 * torch.randn(4, 3, 8, 8)
    y = layer(x)  # training mode: divided by the batch standard deviation, mean kept
    std = x.var(dim=(0, 2, 3), unbiased=False).add(layer.eps).sqrt().view(1, 3, 1, 1)
    torch.testing.assert_close(y, x / std)
    assert (layer.running_var != 1).all() and int(layer.num_batches_tracked) == 1
    assert not any(name.endswith("bias") for name, _ in layer.named_parameters())
    layer.eval()
    torch.testing.assert_close(layer(3 * x), 3 * layer(x))


def test_parameter_counts_reported():
    counts = {
        "dncnn (20 x 64)": parameter_count(build_model("dncnn")),
        "small-unet (32)": parameter_count(build_model("small-unet")),
    }
    for scales in range(2, 7):
        for base in (16, 32):
            model = build_model("unet", scales=scales, base_channels=base)
            counts[f"unet scales={scales} base={base}"] = parameter_count(model)
    for name, count in counts.items():
        print(f"{name}: {count:,} parameters")
    # DnCNN: 1 -> 64 conv, 18 x (64 -> 64 conv + batch norm), 64 -> 1 conv, all with biases.
    assert counts["dncnn (20 x 64)"] == (9 * 64 + 64) + 18 * (9 * 64 * 64 + 64 + 128) + (9 * 64 + 1)
    assert counts["unet scales=5 base=32"] > counts["unet scales=4 base=32"]
    bias_free = parameter_count(build_model("unet", scales=5, base_channels=32, bias_free=True))
    assert bias_free < counts["unet scales=5 base=32"]
