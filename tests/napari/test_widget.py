"""The napari widget: denoised layer, likelihood overlay, verdict points, filter on click."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_rgba

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")
pytestmark = pytest.mark.usefixtures("qt_starts")

from sbdenoise.analysis.trust import CALIBRATED_VERDICTS, judge_frame  # noqa: E402
from sbdenoise.analysis.trust_plot import VERDICT_STYLE  # noqa: E402
from sbdenoise.denoise.api import denoise_micrograph  # noqa: E402
from sbdenoise.denoise.registry import METHODS, get_method  # noqa: E402
from sbdenoise.io import Micrograph  # noqa: E402
from sbdenoise.napari.widget import DenoiseWidget, parse_params  # noqa: E402

from .conftest import PIXEL_SIZE  # noqa: E402


def _viewer_with_frame(counts: np.ndarray, origin=(0.0, 0.0)):
    viewer = napari.components.ViewerModel()
    viewer.add_image(
        counts,
        name="noisy",
        scale=(PIXEL_SIZE, PIXEL_SIZE),
        translate=origin,
        units=("angstrom", "angstrom"),
    )
    return viewer


class _Proxy:
    """An event napari can swap (``__wrapped__``) from press to move to release, as its own."""

    def __init__(self, wrapped):
        self.__wrapped__ = wrapped

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)


def _click(viewer, world, MouseEvent, drag_to=None):
    """Press and release at ``world`` (moving to ``drag_to`` in between, if given)."""
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    def event(kind, position, dragging=False):
        fields = MouseEvent(type=kind, position=tuple(position), is_dragging=dragging, button=1)
        return _Proxy(SimpleNamespace(**vars(fields), modifiers=()))

    mouse_press_callbacks(viewer, event("mouse_press", world))
    if drag_to is not None:
        mouse_move_callbacks(viewer, event("mouse_move", drag_to, dragging=True))
    mouse_release_callbacks(viewer, event("mouse_release", world if drag_to is None else drag_to))


def test_parse_params():
    assert parse_params("sigma=2.5, tile=256; device=cpu") == {
        "sigma": 2.5,
        "tile": 256,
        "device": "cpu",
    }
    assert parse_params("  ") == {}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_params("sigma 2")


def test_widget_lists_every_registry_method(qtbot):
    widget = DenoiseWidget(napari.components.ViewerModel(), background=False)
    assert list(widget.method.choices) == list(METHODS)


def test_baseline_layers_match_the_api_and_verdict_colours(
    qtbot, lattice_frame, null_cache, MouseEvent
):
    truth, counts = lattice_frame
    origin = (3.0, -2.0)  # the frame sits away from the world origin: overlays must follow it
    viewer = _viewer_with_frame(counts, origin)
    widget = DenoiseWidget(viewer, background=False)
    assert widget.layer.value is viewer.layers["noisy"]
    widget.method.value = "gaussian"
    widget.params.value = "sigma=5"
    widget.run()

    names = [layer.name for layer in viewer.layers]
    assert names == ["noisy", "noisy denoised", "noisy likelihood ratio", "noisy columns"]
    denoised = viewer.layers["noisy denoised"]
    expected = denoise_micrograph(
        Micrograph(counts, pixel_size=PIXEL_SIZE), "gaussian", {"sigma": 5}, show_progress=False
    )
    np.testing.assert_allclose(denoised.data, expected.denoised.data, rtol=1e-6)
    np.testing.assert_allclose(denoised.scale, [PIXEL_SIZE, PIXEL_SIZE])
    np.testing.assert_allclose(denoised.translate, origin)
    assert denoised.metadata["sbdenoise"]["method"] == "gaussian"

    # the overlay is the likelihood command's map (null table read from the same cache)
    verdicts = judge_frame(
        counts.astype(float),
        expected.denoised.data.astype(float),
        PIXEL_SIZE,
        method="gaussian",
        params={"sigma": 5},
        show_progress=False,
    )
    overlay = viewer.layers["noisy likelihood ratio"]
    np.testing.assert_allclose(overlay.data, verdicts.likelihood.map, equal_nan=True, rtol=1e-6)
    assert np.isfinite(overlay.data).any() and np.isnan(overlay.data).any()
    assert overlay.metadata["sbdenoise"]["unit"] == "nats per pixel"

    points = viewer.layers["noisy columns"]
    verdict = np.asarray(points.features["verdict"])
    assert len(points.data) == len(verdicts) > 10
    np.testing.assert_array_equal(verdict, verdicts.verdict)
    assert set(verdict) <= set(CALIBRATED_VERDICTS) and "supported" in set(verdict)
    colours = np.array([to_rgba(VERDICT_STYLE[v]) for v in verdict])
    np.testing.assert_allclose(points.border_color, colours, atol=1e-6)
    # supported candidates sit on true columns, in the viewer's world coordinates (angstrom)
    world = np.array([points.data_to_world(p) for p in points.data[verdict == "supported"]])
    true_world = truth.columns + np.asarray(origin)
    distance = np.min(np.linalg.norm(world[:, None] - true_world[None], axis=2), axis=1)
    assert np.median(distance) < 0.3

    # a classical method has no equivalent linear filter: a click says so and adds nothing
    _click(viewer, denoised.data_to_world((100, 120)), MouseEvent)
    assert "not a trained network" in widget.status.value
    assert "noisy filter" not in viewer.layers


def test_sbd_click_shows_the_filter_of_the_network(qtbot, lattice_frame, MouseEvent):
    _, counts = lattice_frame
    viewer = _viewer_with_frame(counts)
    widget = DenoiseWidget(viewer, background=False)
    widget.method.value = "sbd"
    if "precision" in get_method("sbd").defaults:  # fp32, so that a finite difference resolves
        widget.params.value = "precision=fp32"
    widget.verdicts.value = "thresholds"
    widget.run()
    assert "noisy columns" in viewer.layers
    assert "Click a pixel" in widget.status.value

    pixel = (106, 133)  # on the particle
    world = viewer.layers["noisy"].data_to_world(pixel)
    # a drag pans the view: no filter
    _click(viewer, world, MouseEvent, drag_to=np.add(world, 2.0))
    assert "noisy filter" not in viewer.layers
    _click(viewer, world, MouseEvent)
    layer = viewer.layers["noisy filter"]
    record = layer.metadata["sbdenoise"]
    assert tuple(record["pixel"]) == pixel

    # the response of the denoised pixel to one more count in every pixel, by the registry's own
    # sbd path (binning, dose normalisation, network, Fourier unbinning), against the filter's
    prepared = widget.analysis.prepared
    step = 0.02
    before = prepared.denoise_frame(counts.astype(np.float64), PIXEL_SIZE)
    after = prepared.denoise_frame(counts + step, PIXEL_SIZE)
    response = (after[pixel] - before[pixel]) / step
    assert record["uniform_response"] == pytest.approx(response, rel=0.03)
    assert record["output"] == pytest.approx(before[pixel], rel=0.02)
    # the window shown holds the filter: its weights sum to the gain (with the shipped network
    # about 0.07 here, against a response near 1: the frame-mean normalisation carries the rest)
    assert float(layer.data.sum()) == pytest.approx(record["gain"], abs=0.02)

    # drawn on the working grid (4 x 4 detector pixels) over the clicked pixel
    assert layer.scale[-1] == pytest.approx(4 * PIXEL_SIZE)
    corner = np.asarray(layer.data_to_world((0, 0)))
    far = np.asarray(layer.data_to_world(np.subtract(layer.data.shape, 1)))
    assert np.all(corner < world) and np.all(world < far)
    working = np.asarray(layer.world_to_data(world))  # the clicked pixel's working pixel centre
    assert np.all(np.abs(working - np.round(working)) <= 0.5 * (1 - 1 / 4) + 1e-9)
