"""Export a trained denoiser as a BioImage Model Zoo package (``rdf.yaml`` format 0.5).

The package (a zip) holds:

- ``rdf.yaml``: the model description, validated with ``bioimageio.spec``;
- ``sbd_torchscript.pt``: the network as TorchScript, with the card's input normalisation built
  in (``frame_mean`` models divide each frame by its mean count and multiply the output back;
  ``fixed`` models scale by ``input_scale``), so any BMZ consumer (bioimageio.core, deepImageJ,
  ilastik) runs it without sbdenoise;
- ``test_input.npy`` / ``test_output.npy``: a simulated frame (:mod:`sbdenoise.synthetic`,
  Poisson counts at the model's dose) and its denoising by sbdenoise's own inference
  (:func:`sbdenoise.denoise.inference.denoise_array` with ``ensemble=1``), which the
  TorchScript reproduces (``sbdenoise denoise`` also averages the eight symmetries of the
  square by default, 0.3 dB better; a BMZ consumer gets the plain network);
- ``cover.png``: the test frame before and after;
- ``README.md``: the model card in words, and ``sbdenoise_card.json``: the card itself.

The BMZ model works on the model's working grid: a ``(batch, channel, y, x)`` tensor of electron
counts per working pixel at ``card.sampling`` angstrom per pixel (the axes' scale). A frame taken
at a finer pixel size is binned to that grid first by summing counts (``sbdenoise denoise`` does
it for you). The card's optics, dose range, working sampling and training data are in
``config.sbdenoise``.

Needs ``pip install 'sbdenoise[bmz]'`` (bioimageio.spec).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise import __version__
from sbdenoise.errors import InputError

__all__ = ["BMZ_LICENSE", "check_package", "export_bmz", "torchscript_module"]

#: Licence of the exported package: the package's (abTEM, used for the training data, is GPL-3).
BMZ_LICENSE = "GPL-3.0-or-later"

#: Side of the test frame, in working pixels (the shipped UNet's receptive field is 220).
TEST_SIZE = 256


def _require_spec() -> Any:
    try:
        import bioimageio.spec
    except ImportError as error:  # pragma: no cover - the tests skip without it
        raise ImportError(
            "exporting to the BioImage Model Zoo needs bioimageio.spec: "
            "pip install 'sbdenoise[bmz]'"
        ) from error
    return bioimageio.spec


def torchscript_module(network: Any, card: Any, size: int = TEST_SIZE) -> Any:
    """The network with the card's normalisation, traced to TorchScript.

    Parameters
    ----------
    network : torch.nn.Module
        The loaded network (:func:`sbdenoise.nn.model_file.load_model`).
    card : ModelCard
        Its card: ``normalization`` and ``input_scale``.
    size : int
        Side of the example input used for tracing, working pixels (a multiple of the network's
        size multiple).

    Returns
    -------
    torch.jit.ScriptModule
        Maps counts per working pixel ``(n, 1, y, x)`` to expected counts per working pixel.
    """
    import torch

    class Normalised(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module, frame_mean: bool, scale: float) -> None:
            super().__init__()
            self.inner, self.frame_mean, self.scale = inner, frame_mean, scale

        def forward(self, counts: torch.Tensor) -> torch.Tensor:
            if self.frame_mean:
                mean = counts.mean(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
                return self.inner(counts / mean) * mean
            return self.inner(counts * self.scale) / self.scale

    wrapper = Normalised(network, card.normalization == "frame_mean", float(card.input_scale))
    wrapper.eval()
    example = torch.ones((1, 1, size, size), dtype=torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        # the network's size check becomes a constant: the zoo's axes give valid sizes only
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return torch.jit.trace(wrapper, example, check_trace=False)


def _test_frame(card: Any, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic lattice at the working sampling: (noisy counts, expectation), per working px."""
    from sbdenoise.synthetic import synthetic_lattice

    low, high = card.dose_range_working
    dose = float(np.sqrt(low * high)) if low > 0 else float(high)
    frame = synthetic_lattice(
        (size, size), pixel_size=card.sampling, vacuum_level=dose, column_peak=dose, seed=seed
    )
    rng = np.random.default_rng(seed)
    return rng.poisson(frame.expectation).astype(np.float32), frame.expectation


def _cover(noisy: np.ndarray, denoised: np.ndarray, path: Path) -> Path:
    """Noisy and denoised test frames side by side (2:1, as the zoo shows covers)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4), dpi=80)
    low, high = np.percentile(denoised, [1, 99])
    for ax, image, title in zip(axes, (noisy, denoised), ("noisy", "sbd"), strict=True):
        ax.imshow(image, cmap="gray", vmin=low, vmax=high)
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _readme(card: Any, name: str, path: Path) -> Path:
    """The model card in words (the package's documentation)."""
    low, high = card.dose_range_per_area or (card.dose / card.sampling**2,) * 2
    optics = ", ".join(f"{k} = {v}" for k, v in card.optics.items() if k != "nuisance")
    data = card.training_data
    lines = [
        f"# {name}",
        "",
        "Simulation-based denoiser (sbdenoise) for ultra-low-dose atomic-resolution HRTEM frames:",
        f"a {card.architecture} trained on multislice simulations corrupted by Poisson shot noise.",
        "",
        "## Input and output",
        "",
        f"- Input: electron counts per pixel at **{card.sampling:.5g} Å/px** (the working grid).",
        "  Frames at a finer pixel size must be binned to it by summing counts;",
        "  `sbdenoise denoise` does this and returns the result on the input grid.",
        "- Output: expected counts per working pixel (the same units).",
        f"- Normalisation: {card.normalization} (built into the TorchScript weights).",
        f"- Doses trained for: {low:.4g}-{high:.4g} e-/Å² "
        f"({low * card.sampling**2:.4g}-{high * card.sampling**2:.4g} counts per working pixel).",
        f"- Receptive field: {card.receptive_field_angstrom:.3g} Å "
        f"({card.receptive_field_px} working pixels).",
        "",
        "## Training data",
        "",
        f"- Optics: {optics}.",
        f"- Defocus (nm): {', '.join(f'{d:g}' for d in card.defocus_nm)}.",
        f"- Dataset: {data.get('dataset_name', 'unnamed')}, "
        f"{data.get('n_train_images', '?')} training images.",
        "",
        "## Validation",
        "",
        "The test output is sbdenoise's own inference on the simulated test input (a synthetic",
        "lattice with Poisson noise at the model's dose); the TorchScript weights reproduce it.",
        "Images of other materials, microscopes or doses are outside what the network saw: check",
        "its output with `sbdenoise likelihood`, which judges every column against the counts.",
        "",
        f"Exported by sbdenoise {__version__}; model made by sbdenoise {card.sbdenoise_version} "
        f"on {card.created}.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _config(card: Any, weights_path: Path) -> dict[str, Any]:
    """``config.sbdenoise``: what the model card says about where the model applies."""
    low, high = card.dose_range_working
    return {
        "sbdenoise": {
            "model_name": weights_path.stem,
            "sbdenoise_version": __version__,
            "card_sbdenoise_version": card.sbdenoise_version,
            "created": card.created,
            "architecture": card.architecture,
            "architecture_kwargs": dict(card.architecture_kwargs),
            "pixel_size_angstrom": float(card.sampling),
            "normalization": card.normalization,
            "dose_counts_per_working_pixel": float(card.dose),
            "dose_range_counts_per_working_pixel": [float(low), float(high)],
            "dose_range_per_area_e_per_A2": (
                None if card.dose_range_per_area is None else list(card.dose_range_per_area)
            ),
            "receptive_field_angstrom": float(card.receptive_field_angstrom),
            "optics": json.loads(json.dumps(card.optics)),
            "defocus_nm": list(card.defocus_nm),
            "training_data": json.loads(json.dumps(card.training_data)),
        }
    }


def export_bmz(
    model: str | Path | None,
    output: str | Path,
    *,
    name: str | None = None,
    size: int = TEST_SIZE,
    seed: int = 0,
) -> Path:
    """Write a model file as a BioImage Model Zoo package (zip, ``rdf.yaml`` format 0.5).

    Parameters
    ----------
    model : str or Path or None
        The model's ``.safetensors`` weights or ``.json`` card; None: the shipped model.
    output : str or Path
        The zip to write (``.zip``); an existing file is replaced.
    name : str, optional
        Model name in the zoo (default: the weights' file name).
    size : int
        Side of the test frame, working pixels (rounded up to the network's size multiple).
    seed : int
        Seed of the test frame's noise.

    Returns
    -------
    Path
        The zip written, validated by ``bioimageio.spec`` (file hashes checked, nothing
        downloaded).

    Raises
    ------
    InputError
        If no model is given and none ships, the output is not a ``.zip``, or the description
        does not validate.
    FileFormatError
        If the model file cannot be loaded.
    """
    _require_spec()
    import tifffile
    import torch
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as bmz

    from sbdenoise.denoise.inference import denoise_array
    from sbdenoise.io.atomic import atomic_write
    from sbdenoise.nn.model_file import load_model, model_paths
    from sbdenoise.nn.receptive_field import required_multiple
    from sbdenoise.pretrained import shipped_model_path

    if model is None:
        model = shipped_model_path()
        if model is None:
            raise InputError("no model given and none ships with this version: pass MODEL")
    output = Path(output)
    if output.suffix.lower() != ".zip":
        raise InputError(f"the package is a zip: name it *.zip, got {output.name}")
    weights_path, _ = model_paths(model)
    network, card = load_model(model)
    network.eval()
    multiple = required_multiple(network)
    size = -(-max(int(size), 64) // multiple) * multiple
    name = name or weights_path.stem

    noisy, _ = _test_frame(card, size, seed)
    # sbdenoise's own inference on the working grid, with the plain network (the TorchScript
    # holds no self-ensemble), is the reference output
    expected = denoise_array(
        network, card, noisy, card.sampling, device="cpu", precision="fp32", ensemble=1
    )
    scripted = torchscript_module(network, card, size)
    with torch.no_grad():
        traced = scripted(torch.from_numpy(noisy[None, None])).numpy()[0, 0]
    if not np.allclose(traced, expected, rtol=1e-3, atol=1e-4 * float(np.mean(expected))):
        raise InputError("the TorchScript export does not reproduce sbdenoise's inference")

    with tempfile.TemporaryDirectory(prefix="sbdenoise-bmz-") as tmp:
        folder = Path(tmp)
        weights_file = folder / "sbd_torchscript.pt"
        scripted.save(str(weights_file))
        np.save(folder / "test_input.npy", noisy[None, None].astype(np.float32))
        np.save(folder / "test_output.npy", expected[None, None].astype(np.float32))
        tifffile.imwrite(folder / "sample_input.tif", noisy.astype(np.float32))
        tifffile.imwrite(folder / "sample_output.tif", expected.astype(np.float32))
        cover = _cover(noisy, expected, folder / "cover.png")
        readme = _readme(card, name, folder / "README.md")
        card_file = folder / "sbdenoise_card.json"
        card.to_json(card_file)

        def space(axis: str, ref: bool) -> Any:
            if ref:
                size_descr = bmz.SizeReference(tensor_id=bmz.TensorId("counts"), axis_id=axis)
                return bmz.SpaceOutputAxis(
                    id=bmz.AxisId(axis), size=size_descr, unit="angstrom", scale=card.sampling
                )
            return bmz.SpaceInputAxis(
                id=bmz.AxisId(axis),
                size=bmz.ParameterizedSize(min=max(multiple, 64), step=multiple),
                unit="angstrom",
                scale=card.sampling,
            )

        channel = bmz.ChannelAxis(channel_names=[bmz.Identifier("counts")])
        data = bmz.IntervalOrRatioDataDescr(type="float32", range=(0.0, None))
        low, high = card.dose_range_working
        descr = bmz.ModelDescr(
            name=name,
            description=(
                "Denoiser of ultra-low-dose HRTEM frames (electron counts, pure Poisson shot "
                f"noise) trained on multislice simulations; {low:.3g}-{high:.3g} counts per "
                f"{card.sampling:.4g} Å pixel."
            ),
            authors=[bmz.Author(name="sbdenoise developers")],
            license=BMZ_LICENSE,
            documentation=bmz.FileDescr(source=readme),
            covers=[bmz.FileDescr(source=cover)],
            attachments=[bmz.FileDescr(source=card_file)],
            tags=["denoising", "electron-microscopy", "hrtem", "low-dose", "pytorch", "2d"],
            version="0.1.0",
            inputs=[
                bmz.InputTensorDescr(
                    id=bmz.TensorId("counts"),
                    description=(
                        f"electron counts per pixel at {card.sampling:.5g} Å/px (bin finer "
                        "frames by summing counts)"
                    ),
                    axes=[bmz.BatchAxis(), channel, space("y", False), space("x", False)],
                    test_tensor=bmz.FileDescr(source=folder / "test_input.npy"),
                    sample_tensor=bmz.FileDescr(source=folder / "sample_input.tif"),
                    data=data,
                )
            ],
            outputs=[
                bmz.OutputTensorDescr(
                    id=bmz.TensorId("denoised"),
                    description="expected electron counts per pixel (same grid as the input)",
                    axes=[bmz.BatchAxis(), channel, space("y", True), space("x", True)],
                    test_tensor=bmz.FileDescr(source=folder / "test_output.npy"),
                    sample_tensor=bmz.FileDescr(source=folder / "sample_output.tif"),
                    data=bmz.IntervalOrRatioDataDescr(type="float32"),
                )
            ],
            weights=bmz.WeightsDescr(
                torchscript=bmz.TorchscriptWeightsDescr(
                    source=weights_file,
                    pytorch_version=bmz.Version(torch.__version__.split("+")[0]),
                )
            ),
            config=_config(card, weights_path),
        )
        with atomic_write(output) as temporary:
            save_bioimageio_package(descr, output_path=temporary)
            check_package(temporary)
    return output


def check_package(path: str | Path) -> Any:
    """Load a package with ``bioimageio.spec`` and its file checks (hashes; nothing downloaded).

    Parameters
    ----------
    path : str or Path
        The ``.zip`` (or ``rdf.yaml``).

    Returns
    -------
    bioimageio.spec.model.v0_5.ModelDescr
        The description; its ``validation_summary`` lists the warnings.

    Raises
    ------
    InputError
        If the package does not validate.
    """
    from bioimageio.spec import InvalidDescr, load_description

    descr = load_description(path, perform_io_checks=True)
    if isinstance(descr, InvalidDescr) or descr.validation_summary.status == "failed":
        errors = [
            f"{'.'.join(map(str, error.loc))}: {error.msg}"
            for detail in descr.validation_summary.details
            for error in detail.errors
        ]
        raise InputError(f"the BioImage Model Zoo package does not validate: {errors}", path)
    return descr
