"""The napari widget: denoise an image layer, overlay the likelihood map and the column verdicts.

:class:`DenoiseWidget` (a magicgui container) takes an image layer and a method of the registry,
runs :func:`sbdenoise.napari.analyse.analyse_frame` (off the GUI thread by default) and adds three
layers in angstrom: the denoised frame, the Poisson log-likelihood-ratio map and every candidate
column as a ring coloured by its verdict (the column table is the points' features). With the
trained network (``sbd``) a click (press and release without dragging) on the frame adds or
updates a layer with the network's equivalent linear filter at that pixel; other methods have no
such filter and the widget says so.

A stack is analysed one frame at a time: the frame the viewer shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
)

from sbdenoise.analysis.trust import DEFAULT_FDR
from sbdenoise.denoise.api import DEFAULT_METHOD
from sbdenoise.denoise.registry import METHODS, get_method
from sbdenoise.errors import SbdenoiseError
from sbdenoise.napari.analyse import FrameAnalysis, analyse_frame
from sbdenoise.napari.layers import (
    METADATA_KEY,
    Geometry,
    LayerData,
    denoised_layer,
    filter_layer,
    likelihood_layer,
    verdict_layer,
)

if TYPE_CHECKING:
    import napari

__all__ = ["DenoiseWidget", "layer_pixel_size", "parse_params"]


def parse_params(text: str) -> dict[str, Any]:
    """``"sigma=2, tile=256"`` -> ``{"sigma": 2, "tile": 256}`` (values read as YAML scalars).

    Raises
    ------
    ValueError
        For an entry without ``=``.
    """
    params: dict[str, Any] = {}
    for entry in text.replace(";", ",").split(","):
        if not entry.strip():
            continue
        name, sep, value = entry.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"parameter {entry.strip()!r}: expected NAME=VALUE")
        params[name.strip()] = yaml.safe_load(value.strip()) if value.strip() else None
    return params


def layer_pixel_size(layer: Any) -> float | None:
    """Angstrom per pixel of an image layer: as the plugin read it, else from scale and units.

    Returns None when the layer is in pixels (no length unit).
    """
    record = layer.metadata.get(METADATA_KEY, {})
    if record.get("pixel_size_angstrom"):
        return float(record["pixel_size_angstrom"])
    import pint

    try:
        quantity = pint.Quantity(float(layer.scale[-1]), layer.units[-1])
        size = float(quantity.to("angstrom").magnitude)
    except (pint.DimensionalityError, pint.UndefinedUnitError, AttributeError):
        return None
    return size if size > 0 else None


class DenoiseWidget(Container):
    """Denoise the chosen image layer; add the likelihood map, the verdicts and a filter probe.

    Parameters
    ----------
    napari_viewer : napari.Viewer or napari.components.ViewerModel
        The viewer (napari passes it).
    background : bool
        Run the analysis and the filter probe in a worker thread (True in the GUI; tests pass
        False to get the layers before the call returns).
    """

    def __init__(self, napari_viewer: napari.Viewer, *, background: bool = True) -> None:
        self.viewer = napari_viewer
        self.background = background
        self.analysis: FrameAnalysis | None = None
        self.analysed_layer: Any = None
        self._frame_index: int | None = None
        self.layer = ComboBox(label="image", choices=self._image_layers, nullable=True)
        self.method = ComboBox(label="method", choices=list(METHODS), value=DEFAULT_METHOD)
        self.params = LineEdit(label="parameters", value="")
        self.params.tooltip = "NAME=VALUE, comma-separated (see 'sbdenoise methods')"
        self.model = FileEdit(label="model (sbd)", mode="r", filter="*.safetensors", value="")
        self.model.tooltip = "Model file of the sbd method; empty: the shipped model"
        self.pixel_size = FloatSpinBox(
            label="pixel size (Å)", value=0.0, min=0.0, max=1e4, step=0.001
        )
        self.pixel_size.tooltip = "0: from the layer (its scale and units)"
        self.verdicts = ComboBox(
            label="verdicts", choices=["calibrated", "thresholds", "none"], value="calibrated"
        )
        self.fdr = FloatSpinBox(label="FDR", value=DEFAULT_FDR, min=0.001, max=0.5, step=0.01)
        self.assume_counts = CheckBox(text="values are counts (skip the check)", value=False)
        self.run_button = PushButton(text="Denoise and judge columns")
        self.status = Label(value="Choose an image of electron counts and a method.")
        super().__init__(
            widgets=[
                self.layer,
                self.method,
                self.params,
                self.model,
                self.pixel_size,
                self.verdicts,
                self.fdr,
                self.assume_counts,
                self.run_button,
                self.status,
            ]
        )
        self.max_width = 460
        if hasattr(self.status.native, "setWordWrap"):  # Qt: long summaries wrap
            self.status.native.setWordWrap(True)
        self.run_button.changed.connect(self.run)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.mouse_drag_callbacks.append(self._on_mouse)
        active = self.viewer.layers.selection.active
        if active is not None and active in self._image_layers():
            self.layer.value = active

    # -- choices -----------------------------------------------------------------------------

    def _image_layers(self, *_: Any) -> list[Any]:
        """Image layers of the viewer (2-D frames or 3-D stacks), as combo-box choices."""
        from napari.layers import Image

        return [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, Image) and not layer.rgb and layer.ndim in (2, 3)
        ]

    def _refresh_layers(self, *_: Any) -> None:
        self.layer.reset_choices()

    # -- running -----------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.status.value = text
        self.viewer.status = text

    def _frame(self, layer: Any) -> tuple[np.ndarray, int | None]:
        """The frame to analyse: the layer itself, or the stack frame the viewer shows."""
        data = np.asarray(layer.data)
        if data.ndim == 2:
            return data, None
        step = self.viewer.dims.current_step
        index = int(np.clip(step[-3] if len(step) >= 3 else 0, 0, data.shape[0] - 1))
        return np.asarray(data[index]), index

    def _start(self, work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Run ``work`` (in a worker thread when ``background``), then ``done`` on its result."""

        def failed(error: BaseException) -> None:
            self._say(f"Failed: {error}")
            self.run_button.enabled = True

        if not self.background:
            try:
                outcome = work()
            except (SbdenoiseError, ValueError) as error:
                failed(error)
                return
            done(outcome)
            return
        from napari.qt.threading import create_worker

        worker = create_worker(work)
        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.start()

    def run(self) -> None:
        """Denoise the chosen layer with the chosen method and judge its candidate columns."""
        layer = self.layer.value
        if layer is None:
            self._say("No image layer chosen.")
            return
        try:
            params = parse_params(self.params.value)
        except ValueError as error:
            self._say(f"Failed: {error}")
            return
        frame, index = self._frame(layer)
        size = float(self.pixel_size.value) or layer_pixel_size(layer)
        method = str(self.method.value)
        model_path = str(self.model.value or "").strip()
        uses_model = get_method(method).uses_model
        model = model_path if uses_model and model_path not in ("", ".") else None
        source = layer.metadata.get(METADATA_KEY, {}).get("source") or layer.name
        which = f"frame {index} of {layer.name}" if index is not None else layer.name
        self._say(f"Denoising {which} with {method}...")
        self.run_button.enabled = False

        def work() -> FrameAnalysis:
            return analyse_frame(
                frame,
                size,
                method,
                params,
                model=model,
                verdicts=str(self.verdicts.value),  # type: ignore[arg-type]
                fdr=float(self.fdr.value),
                assume_counts=bool(self.assume_counts.value),
                source=source,
            )

        def done(analysis: FrameAnalysis) -> None:
            self.analysis, self.analysed_layer, self._frame_index = analysis, layer, index
            self._show(analysis, layer.name if index is None else f"{layer.name}[{index}]")
            self.run_button.enabled = True

        self._start(work, done)

    def _put(self, layer_data: LayerData) -> Any:
        """Add a layer, or replace the data and look of the one of the same name."""
        data, kwargs, kind = layer_data
        name = kwargs["name"]
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        adder = getattr(self.viewer, f"add_{kind}")
        return adder(data, **kwargs)

    def _show(self, analysis: FrameAnalysis, name: str) -> None:
        """Add the denoised frame, the likelihood map and the verdict points."""
        result = analysis.result
        where = Geometry.of_layer(self.analysed_layer)
        record = {
            "method": result.method,
            "params": dict(result.params),
            "seconds": result.seconds,
            "input_values": result.conversion,
        }
        denoised = analysis.denoised
        self._put(denoised_layer(denoised, analysis.pixel_size, f"{name} denoised", record, where))
        if analysis.verdicts is not None:
            self._put(likelihood_layer(analysis.verdicts, f"{name} likelihood ratio", where))
            self._put(verdict_layer(analysis.verdicts, f"{name} columns", where))
        hint = (
            " Click a pixel to see the network's equivalent linear filter there."
            if analysis.has_network
            else ""
        )
        self._say(analysis.summary() + hint)

    # -- the filter probe --------------------------------------------------------------------

    def frame_pixel(self, world: Any) -> tuple[int, int] | None:
        """The analysed frame's pixel ``(row, col)`` under a world position, or None."""
        if self.analysis is None or self.analysed_layer is None:
            return None
        data = np.asarray(self.analysed_layer.world_to_data(world), dtype=float)
        row, col = np.round(data[-2:]).astype(int)
        rows, cols = self.analysis.counts.shape
        if not (0 <= row < rows and 0 <= col < cols):
            return None
        return int(row), int(col)

    def probe_at(self, world: Any) -> None:
        """Show the network's equivalent linear filter at a world position (Å)."""
        pixel = self.frame_pixel(world)
        if pixel is None or self.analysis is None:
            return
        analysis = self.analysis
        if not analysis.has_network:
            self._say(
                f"Pixel {pixel}: {analysis.prepared.name!r} is not a trained network, so it has "
                "no equivalent linear filter; choose the sbd method to probe the network."
            )
            return
        self._say(f"Computing the network's filter at pixel {pixel}...")
        base = self.analysed_layer.name
        where = Geometry.of_layer(self.analysed_layer)

        def done(result: Any) -> None:
            self._put(filter_layer(result, f"{base} filter", where))
            self._say(f"Equivalent linear filter at {result.describe()}")

        self._start(lambda: analysis.probe(pixel), done)

    def _on_mouse(self, viewer: Any, event: Any) -> Iterator[None]:
        """Mouse callback: a press and release without dragging probes the pixel there."""
        if self.analysis is None or getattr(event, "button", 1) not in (1, None):
            return
        position = tuple(event.position)
        dragged = False
        yield
        while event.type == "mouse_move":
            dragged = True
            yield
        if not dragged:
            self.probe_at(position)
