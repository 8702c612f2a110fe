"""The plugin in a full napari viewer: manifest reader, dock widget, worker thread, rendering.

Needs an OpenGL context: it skips with offscreen Qt and no X display, where napari cannot make
canvas layers. Offscreen Qt under an X display (``xvfb-run``) makes them but draws black, so the
rendered pixels are checked with a real platform only (``QT_QPA_PLATFORM=xcb xvfb-run ...``).
"""

from __future__ import annotations

import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")
pytestmark = pytest.mark.usefixtures("qt_starts")

from sbdenoise.napari.widget import DenoiseWidget  # noqa: E402

from .conftest import PIXEL_SIZE  # noqa: E402


def _viewer_that_draws(make_napari_viewer, qapp):
    """A napari viewer, or a skip when Qt cannot make an OpenGL context to draw it."""
    from qtpy.QtGui import QOffscreenSurface, QOpenGLContext

    context, surface = QOpenGLContext(), QOffscreenSurface()
    surface.create()
    drawable = context.create() and context.makeCurrent(surface)
    if drawable:
        context.doneCurrent()
    surface.destroy()
    if not drawable:
        pytest.skip("no OpenGL context (offscreen Qt without an X display; try xvfb-run)")
    # a hidden window is not drawn: show it where the platform draws
    return make_napari_viewer(show=qapp.platformName() != "offscreen")


def test_plugin_in_a_full_viewer(make_napari_viewer, qapp, qtbot, formats_dir, lattice_frame):
    viewer = _viewer_that_draws(make_napari_viewer, qapp)
    (opened,) = viewer.open(formats_dir / "dm3_adf_mos2.dm3", plugin="sbdenoise")
    assert opened.scale[-1] == pytest.approx(0.127, rel=1e-3)

    _, counts = lattice_frame
    viewer.add_image(
        counts, name="noisy", scale=(PIXEL_SIZE, PIXEL_SIZE), units=("angstrom", "angstrom")
    )
    _, widget = viewer.window.add_plugin_dock_widget("sbdenoise", "Denoise and judge columns")
    assert isinstance(widget, DenoiseWidget) and widget.background
    widget.layer.value = viewer.layers["noisy"]
    widget.method.value = "median"
    widget.verdicts.value = "thresholds"
    widget.run_button.clicked.emit()
    qtbot.waitUntil(
        lambda: "noisy columns" in viewer.layers or "Failed" in widget.status.value, timeout=60_000
    )
    assert "Failed" not in widget.status.value, widget.status.value
    assert widget.run_button.enabled
    assert "candidates" in widget.status.value

    viewer.layers["dm3_adf_mos2.dm3"].visible = False
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True)
    assert shot.ndim == 3 and shot.shape[-1] == 4
    if qapp.platformName() != "offscreen":
        assert shot[..., :3].std() > 5  # the frames were drawn
