"""Screenshot of the napari plugin on the demo frame (docs/napari.png).

The demo's noisy frame (abTEM simulation of a 2 nm Pt particle on CeO2 at 0.45 e-/px, seed 0, as
``sbdenoise demo``) is written as a TIFF, opened with the plugin's reader, denoised with the
shipped network by the plugin's widget (calibrated verdicts, as ``sbdenoise likelihood``), and a
surface candidate is clicked to show the network's equivalent linear filter there.

Needs napari with a Qt binding (``pip install 'sbdenoise[napari]'``) and a display that draws
OpenGL; headless::

    apt-get install -y xvfb libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 \\
        libxcb-shape0 libxcb-render-util0 libxcb-image0
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1200x24" python scripts/napari_screenshot.py

(offscreen Qt draws a black canvas). About 1-2 minutes on 2 cores, most of it the simulation and
the first null table of the verdicts (cached afterwards).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _probe_pixel(widget) -> tuple[float, float]:
    """World position (Å) of the candidate to click: the most prominent one not supported."""
    verdicts = widget.analysis.verdicts
    prominence = np.where(verdicts.verdict == "not supported", verdicts.candidates.prominence, -1)
    chosen = int(np.argmax(prominence))
    row, col = verdicts.candidates.positions[chosen] / verdicts.candidates.pixel_size
    return tuple(widget.analysed_layer.data_to_world((row, col)))


def main() -> None:
    """Build the viewer, run the widget, click once, save the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "napari.png")
    parser.add_argument("--size", type=int, default=512, help="frame side, px")
    args = parser.parse_args()

    import napari

    from sbdenoise.demo import clean_frame
    from sbdenoise.io import Micrograph, write_image
    from sbdenoise.noise.models import sample_poisson

    clean = clean_frame("pt-ceo2", args.size, 0.45)
    counts = sample_poisson(clean.expectation, np.random.default_rng(0)).astype(np.uint16)
    with tempfile.TemporaryDirectory() as folder:
        noisy_path = Path(folder) / "noisy.tif"
        write_image(Micrograph(counts, pixel_size=clean.pixel_size), noisy_path)

        viewer = napari.Viewer(show=True)
        viewer.window.resize(1800, 1100)
        (noisy,) = viewer.open(noisy_path, plugin="sbdenoise")
        _, widget = viewer.window.add_plugin_dock_widget("sbdenoise", "Denoise and judge columns")
        widget.background = False
        widget.layer.value = noisy
        widget.method.value = "sbd"
        widget.verdicts.value = "calibrated"
        widget.run()
        widget.probe_at(_probe_pixel(widget))
        viewer.layers.selection.active = viewer.layers["noisy.tif columns"]
        viewer.layers["noisy.tif"].visible = False
        viewer.reset_view()
        napari.qt.get_qapp().processEvents()
        viewer.screenshot(path=str(args.output), canvas_only=False)
        print(widget.status.value)
        viewer.close()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
