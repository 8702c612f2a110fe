"""Training checkpoints without pickle: one safetensors file with a JSON header.

A checkpoint holds the model weights and buffers, the optimizer state (Adam moments included),
the learning-rate scheduler state, the random-number-generator states and the trainer's own
counters (step, best PSNR, CSV position, ...). Tensors go into the safetensors body; everything
else is JSON stored in the file's metadata, with every tensor replaced by a reference to its key.
One file means one atomic write: it is written under a temporary name, flushed to disk and renamed
over the previous checkpoint, so a run killed at any moment leaves either the old or the new
checkpoint, never a torn one. Loading never unpickles anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sbdenoise.errors import FileFormatError
from sbdenoise.io.atomic import atomic_write

#: Format tag written into (and required from) every checkpoint.
CHECKPOINT_FORMAT = "sbdenoise-checkpoint/1"
#: File name of the checkpoint inside a run folder.
CHECKPOINT_NAME = "checkpoint.safetensors"

_TENSOR, _TUPLE, _DICT = "__tensor__", "__tuple__", "__dict__"


def encode_tree(tree: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Turn a nested structure into JSON-able data, moving its tensors into ``tensors``.

    Parameters
    ----------
    tree : Any
        Nested dicts, lists, tuples, tensors, numbers, strings, booleans and None (the structure
        of ``state_dict()`` of optimizers and schedulers).
    tensors : dict
        Receives every tensor, under a key derived from ``prefix`` and its position.
    prefix : str
        Key prefix of this subtree.

    Returns
    -------
    Any
        The structure with tensors replaced by ``{"__tensor__": key}``, tuples by
        ``{"__tuple__": [...]}`` and dicts with non-string keys by ``{"__dict__": [[k, v], ...]}``.
    """
    if isinstance(tree, torch.Tensor):
        key = prefix
        tensors[key] = tree.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(tree, dict):
        if all(isinstance(k, str) for k in tree):
            return {k: encode_tree(v, tensors, f"{prefix}.{k}") for k, v in tree.items()}
        return {_DICT: [[k, encode_tree(v, tensors, f"{prefix}.{k}")] for k, v in tree.items()]}
    if isinstance(tree, tuple):
        return {_TUPLE: [encode_tree(v, tensors, f"{prefix}.{i}") for i, v in enumerate(tree)]}
    if isinstance(tree, list):
        return [encode_tree(v, tensors, f"{prefix}.{i}") for i, v in enumerate(tree)]
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if hasattr(tree, "item"):  # numpy scalars
        return tree.item()
    raise TypeError(f"cannot store {type(tree).__name__} in a checkpoint")


def decode_tree(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode_tree`."""
    if isinstance(data, dict):
        if set(data) == {_TENSOR}:
            return tensors[data[_TENSOR]]
        if set(data) == {_TUPLE}:
            return tuple(decode_tree(v, tensors) for v in data[_TUPLE])
        if set(data) == {_DICT}:
            return {k: decode_tree(v, tensors) for k, v in data[_DICT]}
        return {k: decode_tree(v, tensors) for k, v in data.items()}
    if isinstance(data, list):
        return [decode_tree(v, tensors) for v in data]
    return data


def rng_states() -> dict[str, Any]:
    """The torch random-number-generator states (CPU, and every CUDA device when present)."""
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = list(torch.cuda.get_rng_state_all())
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore the states returned by :func:`rng_states` (CUDA ones when CUDA is present)."""
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        cuda = states["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    trainer_state: dict[str, Any],
    averaged: torch.nn.Module | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path : str or Path
        Checkpoint file (``.safetensors``).
    model : torch.nn.Module
        The bare network (not a DistributedDataParallel wrapper).
    optimizer : torch.optim.Optimizer
        Its state, Adam moments included, is stored.
    scheduler : torch.optim.lr_scheduler.ReduceLROnPlateau or similar
        Anything with ``state_dict()``.
    trainer_state : dict
        JSON-able counters of the trainer (step, best PSNR, CSV position, ...).
    averaged : torch.nn.Module, optional
        A moving average of the weights (``torch.optim.swa_utils.AveragedModel``), stored too.

    Returns
    -------
    Path
        The checkpoint written.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    header = {
        "format": CHECKPOINT_FORMAT,
        "trainer": encode_tree(trainer_state, tensors, "trainer"),
        "model": encode_tree(dict(model.state_dict()), tensors, "model"),
        "optimizer": encode_tree(optimizer.state_dict(), tensors, "optimizer"),
        "scheduler": encode_tree(scheduler.state_dict(), tensors, "scheduler"),
        "rng": encode_tree(rng_states(), tensors, "rng"),
    }
    if averaged is not None:
        header["averaged"] = encode_tree(dict(averaged.state_dict()), tensors, "averaged")
    with atomic_write(path, fsync=True) as temporary:
        save_file(tensors, str(temporary), metadata={"sbdenoise": json.dumps(header)})
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint into plain structures (tensors on the CPU), without applying it.

    Returns
    -------
    dict
        Keys ``trainer``, ``model``, ``optimizer``, ``scheduler``, ``rng`` (and ``averaged``
        when the run keeps a moving average of the weights).

    Raises
    ------
    FileFormatError
        When the file is not an sbdenoise checkpoint.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        header = json.loads(metadata["sbdenoise"])
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise FileFormatError(f"not a readable training checkpoint ({error})", path) from error
    if header.get("format") != CHECKPOINT_FORMAT:
        raise FileFormatError(f"unknown checkpoint format {header.get('format')!r}", path)
    return {key: decode_tree(header[key], tensors) for key in header if key != "format"}


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    restore_rng: bool = True,
    averaged: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler (and RNG states) from a checkpoint.

    Parameters
    ----------
    path : str or Path
        Checkpoint written by :func:`save_checkpoint`.
    model, optimizer, scheduler
        Objects built exactly as for the run that wrote it; their states are replaced.
    restore_rng : bool
        Also restore the torch RNG states.
    averaged : torch.nn.Module, optional
        The run's moving average of the weights, restored from the checkpoint.

    Returns
    -------
    dict
        The trainer state stored with the checkpoint.

    Raises
    ------
    FileFormatError
        When ``averaged`` is given and the checkpoint holds no moving average.
    """
    content = read_checkpoint(path)
    if averaged is not None:
        if "averaged" not in content:
            raise FileFormatError("the checkpoint holds no moving average of the weights", path)
        averaged.load_state_dict(content["averaged"])
    model.load_state_dict(content["model"])
    optimizer.load_state_dict(content["optimizer"])  # moves the moments to the parameters' device
    scheduler.load_state_dict(content["scheduler"])
    if restore_rng:
        set_rng_states(content["rng"])
    return content["trainer"]
