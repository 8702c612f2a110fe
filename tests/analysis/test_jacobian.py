"""Equivalent linear filter of a network at one pixel, by autograd."""

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from sbdenoise.analysis.jacobian import equivalent_filter, plot_equivalent_filter
from sbdenoise.errors import InputError
from sbdenoise.noise.models import sample_poisson
from sbdenoise.synthetic import synthetic_lattice


def tiny_net(bias: bool) -> torch.nn.Module:
    """Conv-ReLU-Conv-ReLU-Conv, 3x3 kernels, with or without biases."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1, bias=bias),
        torch.nn.ReLU(),
        torch.nn.Conv2d(6, 6, 3, padding=1, bias=bias),
        torch.nn.ReLU(),
        torch.nn.Conv2d(6, 1, 3, padding=1, bias=bias),
    )
    if bias:
        with torch.no_grad():
            for layer in net:
                if isinstance(layer, torch.nn.Conv2d):
                    layer.bias.fill_(0.1)
    return net


@pytest.fixture(scope="module")
def frame():
    lattice = synthetic_lattice((48, 48))
    return sample_poisson(lattice.expectation, np.random.default_rng(0)), lattice.pixel_size


def test_bias_free_network_is_its_own_linear_filter(frame):
    noisy, _ = frame
    net = tiny_net(bias=False)
    for pixel in [(24, 24), (0, 0), (10, 40), (47, 3)]:
        result = equivalent_filter(net, noisy, pixel)
        # f(y) = grad f(y) . y for a positively homogeneous (bias-free ReLU) network.
        assert abs(result.output - result.linear_output) < 1e-3
        assert result.output == pytest.approx(result.linear_output, rel=1e-3, abs=1e-6)
        # The filter reaches no further than the receptive field (three 3x3 layers: 3 px).
        rows, cols = np.nonzero(result.weights)
        assert np.all(np.abs(rows - pixel[0]) <= 3) and np.all(np.abs(cols - pixel[1]) <= 3)
    assert net.training  # the model's mode is restored


def test_network_with_biases_is_not(frame):
    noisy, _ = frame
    result = equivalent_filter(tiny_net(bias=True), noisy, (24, 24))
    assert abs(result.bias) > 1e-2


def test_single_convolution_filter_is_its_kernel(frame):
    noisy, _ = frame
    conv = torch.nn.Conv2d(1, 1, 5, padding=2, bias=False)
    kernel = np.arange(25, dtype=np.float32).reshape(5, 5) / 25
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(kernel)[None, None])
    result = equivalent_filter(conv, noisy, (20, 30))
    np.testing.assert_allclose(result.weights[18:23, 28:33], kernel, rtol=1e-6)
    assert np.count_nonzero(result.weights) == np.count_nonzero(kernel)
    assert result.extent(1.0) == pytest.approx(np.hypot(2, 2))


def test_figure(tmp_path, frame):
    noisy, pixel_size = frame
    result = equivalent_filter(tiny_net(bias=False), noisy, (24, 24))
    png = plot_equivalent_filter(result, noisy, tmp_path / "f.png", pixel_size=pixel_size)
    image = imread(png)
    assert image.ndim == 3 and image.shape[1] > 2 * image.shape[0]


def test_bad_input_is_refused(frame):
    noisy, _ = frame
    with pytest.raises(InputError, match="outside"):
        equivalent_filter(tiny_net(bias=False), noisy, (48, 0))
    with pytest.raises(InputError, match="keep the shape"):
        equivalent_filter(torch.nn.Conv2d(1, 1, 3, bias=False), noisy, (5, 5))
