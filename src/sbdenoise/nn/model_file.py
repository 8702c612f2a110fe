"""Model files: safetensors weights plus a JSON model card, never a pickle.

A model ``denoiser.safetensors`` comes with ``denoiser.json`` (a :class:`ModelCard`). Loading
rebuilds the network from the card's architecture and fills it from the safetensors file, which
holds only named tensors (weights and batch-norm buffers), so a model file can be opened safely
whoever made it. Both files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import ValidationError
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.io.atomic import atomic_write
from sbdenoise.nn.architectures import build_model
from sbdenoise.nn.card import ModelCard

__all__ = [
    "WEIGHTS_SUFFIX",
    "load_model",
    "model_paths",
    "parameters_dtype",
    "read_card",
    "round_to_half_precision",
    "save_model",
]

T = TypeVar("T")

#: Suffix of weight files.
WEIGHTS_SUFFIX = ".safetensors"


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """The weights and card paths of a model given either of them.

    Parameters
    ----------
    path : str or Path
        ``model.safetensors`` (or any name other than ``*.json``) or ``model.json``.

    Returns
    -------
    tuple of Path
        ``(weights, card)``: the card is the weights path with a ``.json`` suffix; given a
        ``.json`` path, the weights are that path with a ``.safetensors`` suffix.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        return path.with_suffix(WEIGHTS_SUFFIX), path
    return path, path.with_suffix(".json")


def _unwrap(module: nn.Module) -> nn.Module:
    for name in ("module", "_orig_mod"):  # DistributedDataParallel, torch.compile
        inner = getattr(module, name, None)
        if isinstance(inner, nn.Module):
            return _unwrap(inner)
    return module


#: Largest magnitude float16 holds; a weight beyond it cannot be stored in half precision.
_FLOAT16_MAX = float(torch.finfo(torch.float16).max)


def round_to_half_precision(module: nn.Module) -> None:
    """Round a network's floating-point parameters to float16 values, in place (kept float32).

    What :func:`save_model` with ``half_precision=True`` stores, applied to the network in
    memory, so that it can be scored as the file will be loaded. Buffers (batch-norm running
    statistics) are left as they are.

    Raises
    ------
    InputError
        If a parameter exceeds the float16 range.
    """
    with torch.no_grad():
        for name, parameter in _unwrap(module).named_parameters():
            parameter.copy_(_to_half(name, parameter))


def _to_half(name: str, value: torch.Tensor) -> torch.Tensor:
    """A floating-point tensor as float16 (others unchanged); refuse one beyond its range."""
    if not value.is_floating_point():
        return value
    if float(value.abs().max()) > _FLOAT16_MAX:
        raise InputError(f"parameter {name} exceeds the float16 range")
    return value.to(torch.float16)


def save_model(
    path: str | Path, module: nn.Module, card: ModelCard, half_precision: bool = False
) -> Path:
    """Write a network's weights (safetensors) and its card (JSON), each atomically.

    Parameters
    ----------
    path : str or Path
        Weights file, normally ``*.safetensors``; the card goes to the same path with ``.json``.
        A ``*.json`` path names the card instead.
    module : torch.nn.Module
        The network (unwrapped from DistributedDataParallel or ``torch.compile`` if needed). All
        parameters and buffers (batch-norm running statistics included) are saved.
    card : ModelCard
        Its description; ``card.architecture`` and ``architecture_kwargs`` must rebuild it.
    half_precision : bool
        Store the floating-point parameters as float16 (half the file; a relative rounding of
        at most 2**-11 per weight), the buffers as they are. :func:`load_model` reads them back
        into float32 networks; score a network after :func:`round_to_half_precision` to know
        what such a file does.

    Returns
    -------
    Path
        The weights path.
    """
    weights_path, card_path = model_paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    state = _unwrap(module).state_dict()
    tensors = {name: value.detach().to("cpu").contiguous().clone() for name, value in state.items()}
    metadata = {"format": "pt", "architecture": card.architecture, "sbdenoise_card": "json"}
    if half_precision:
        for name, _ in _unwrap(module).named_parameters():
            tensors[name] = _to_half(name, tensors[name])
        metadata["parameters_dtype"] = "float16"
    # the card is renamed first: weights never appear without the card that describes them
    with atomic_write(weights_path) as weights_tmp, atomic_write(card_path) as card_tmp:
        save_file(tensors, str(weights_tmp), metadata=metadata)
        card_tmp.write_text(card.to_json())
    return weights_path


def parameters_dtype(path: str | Path) -> str:
    """How a model file stores its parameters: ``"float16"`` or ``"float32"``.

    Parameters
    ----------
    path : str or Path
        The ``.safetensors`` weights or the ``.json`` card.

    Returns
    -------
    str
        ``"float16"`` for a file written with ``save_model(..., half_precision=True)``,
        ``"float32"`` otherwise.
    """
    weights_path, _ = model_paths(path)
    metadata = _read_safetensors(weights_path, lambda handle: handle.metadata() or {})
    return metadata.get("parameters_dtype", "float32")


def read_card(path: str | Path) -> ModelCard:
    """Read the card of a model (given its weights or card path).

    Raises
    ------
    FileFormatError
        If the card is missing or is not a valid model card.
    """
    _, card_path = model_paths(path)
    if not card_path.is_file():
        raise FileFormatError(
            "model card not found; a model is a .safetensors file with a .json card beside it",
            card_path,
        )
    try:
        return ModelCard.model_validate_json(card_path.read_text())
    except (ValidationError, ValueError, UnicodeDecodeError) as error:
        raise FileFormatError(f"not a valid sbdenoise model card ({error})", card_path) from error


def _read_safetensors(weights_path: Path, read: Callable[[Any], T]) -> T:
    """``read(handle)`` on an open safetensors file; a missing or foreign file is refused."""
    if not weights_path.is_file():
        raise FileFormatError("model weights not found", weights_path)
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as handle:
            return read(handle)
    except Exception as error:  # safetensors raises its own error types for foreign files
        raise FileFormatError(
            f"not a safetensors weights file ({type(error).__name__}: {error})", weights_path
        ) from error


def _read_tensors(weights_path: Path) -> dict[str, torch.Tensor]:
    return _read_safetensors(
        weights_path, lambda handle: {name: handle.get_tensor(name) for name in handle.keys()}
    )


def load_model(path: str | Path) -> tuple[nn.Module, ModelCard]:
    """Load a model saved by :func:`save_model`, in eval mode, on the CPU.

    Parameters
    ----------
    path : str or Path
        The ``.safetensors`` weights or the ``.json`` card.

    Returns
    -------
    tuple
        ``(module, card)``.

    Raises
    ------
    FileFormatError
        If the weights or the card is missing, the card is invalid, the weights file is not
        safetensors, or its tensor names or shapes do not match the card's architecture.
    """
    weights_path, card_path = model_paths(path)
    card = read_card(card_path)
    tensors = _read_tensors(weights_path)
    try:
        module = build_model(card.architecture, **card.architecture_kwargs)
    except InputError as error:
        raise FileFormatError(
            f"the card's architecture cannot be built: {error}", card_path
        ) from error
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise FileFormatError(
            f"weights do not match the card's architecture {card.architecture!r}: "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}",
            weights_path,
        )
    wrong = [
        f"{name} {tuple(tensors[name].shape)} (expected {tuple(value.shape)})"
        for name, value in expected.items()
        if tensors[name].shape != value.shape
    ]
    if wrong:
        raise FileFormatError(
            f"weights have the wrong shapes for the card's architecture: {', '.join(wrong[:5])}",
            weights_path,
        )
    module.load_state_dict(tensors, strict=True)
    module.eval()
    return module, card
