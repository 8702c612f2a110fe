"""The method registry: one lookup for every entry point, checks once, stacks frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from sbdenoise.analysis.evaluation import evaluate
from sbdenoise.baselines import BASELINES
from sbdenoise.cli import app
from sbdenoise.denoise.api import denoise_micrograph
from sbdenoise.denoise.inference import denoise_array
from sbdenoise.denoise.registry import METHODS, SBD_METHOD, Method, get_method, prepare, register
from sbdenoise.errors import InputError
from sbdenoise.io import Micrograph
from sbdenoise.metrics import psnr
from sbdenoise.synthetic import synthetic_lattice

PIXEL = 0.0609


def test_every_baseline_and_the_network_are_registered():
    assert set(BASELINES) | {SBD_METHOD} <= set(METHODS)
    sbd = get_method(SBD_METHOD)
    assert sbd.kind == "network" and sbd.uses_model and sbd.needs_pixel_size
    assert get_method("time-average").needs_stack
    assert not get_method("vst-bm3d").uses_model
    with pytest.raises(InputError, match=r"unknown method 'nope'.*vst-bm3d"):
        get_method("nope")
    with pytest.raises(ValueError, match="already registered"):
        register(METHODS["gaussian"])


def test_methods_command_lists_every_registered_method():
    result = CliRunner().invoke(app, ["methods"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.stdout
    for name in METHODS:
        assert name in result.stdout


def test_parameters_are_checked_once_when_prepared():
    with pytest.raises(InputError, match=r"unknown parameter.*sigmaa.*valid: sigma"):
        prepare("gaussian", {"sigmaa": 2})
    with pytest.raises(InputError, match="--model goes with"):
        prepare("gaussian", model="m.safetensors")
    prepared = prepare("gaussian", {"sigma": 3.0})
    assert prepared.params == {"sigma": 3.0}
    with pytest.raises(InputError, match="needs a stack"):
        prepare("time-average").denoise_frame(np.ones((32, 32)))
    with pytest.raises(InputError, match="needs the pixel size"):
        prepare("lowpass").denoise_frame(np.ones((32, 32)))


def test_setup_runs_once_per_call_not_per_frame():
    calls = []

    def setup(params, model, source):
        calls.append(params)
        return (lambda frame, pixel: frame * params["factor"]), None, {}

    name = "test-double-it"
    register(
        Method(
            name=name,
            kind="classical",
            description="test double",
            defaults={"factor": 2.0},
            needs_pixel_size=False,
            needs_stack=False,
            uses_model=False,
            trains_on_input=False,
            setup=setup,
        )
    )
    try:
        stack = np.random.default_rng(0).poisson(0.45, (5, 32, 32)).astype(np.uint16)
        result = denoise_micrograph(Micrograph(stack, pixel_size=PIXEL), name, show_progress=False)
        assert len(calls) == 1
        np.testing.assert_allclose(result.denoised.data, 2.0 * stack)
    finally:
        del METHODS[name]


def test_stacks_are_read_one_frame_at_a_time():
    class Frames:
        """A stack that records which frames were read."""

        def __init__(self, data):
            self.data, self.read = data, []

        def __iter__(self):
            for i, frame in enumerate(self.data):
                self.read.append(i)
                yield frame

    stack = np.random.default_rng(1).poisson(0.45, (4, 48, 48)).astype(np.float32)
    frames = Frames(stack)
    prepared = prepare("gaussian")
    outputs = prepared.denoise_stack(frames)
    first = next(outputs)
    assert frames.read == [0]  # nothing beyond the first frame was read yet
    rest = list(outputs)
    assert frames.read == [0, 1, 2, 3] and len(rest) == 3
    np.testing.assert_allclose(first, prepared.denoise_frame(stack[0]), rtol=1e-6)


def test_evaluate_accepts_the_network_method(smoke_dataset):
    result = evaluate(smoke_dataset, SBD_METHOD, n_realisations=1, max_images=1)
    assert result.summary["method"] == SBD_METHOD
    assert result.rows[0]["psnr"] > 20.0


def test_network_method_through_the_registry_denoises():
    lattice = synthetic_lattice((256, 256), pixel_size=PIXEL, seed=2)
    noisy = np.random.default_rng(2).poisson(lattice.expectation)
    prepared = prepare(SBD_METHOD)
    assert prepared.card is not None and prepared.network is not None
    out = prepared.denoise_frame(noisy, PIXEL)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert psnr(out, lattice.expectation) > psnr(noisy, lattice.expectation, clip=False) + 10


def test_the_prepared_network_runs_folded_and_gives_the_unfolded_output():
    """denoise runs the shipped network with its batch norms folded: same output, source kept."""
    lattice = synthetic_lattice((256, 256), pixel_size=PIXEL, seed=4)
    noisy = np.random.default_rng(4).poisson(lattice.expectation)
    prepared = prepare(SBD_METHOD, {"precision": "fp32"})
    norms = [m for m in prepared.network.modules() if "BatchNorm" in type(m).__name__]
    assert norms  # the card's network keeps them (for the linear-filter analysis, training)
    out = prepared.denoise_frame(noisy, PIXEL)
    unfolded = denoise_array(prepared.network, prepared.card, noisy, PIXEL, precision="fp32")
    np.testing.assert_allclose(out, unfolded, rtol=1e-4, atol=1e-5 * float(unfolded.max()))
