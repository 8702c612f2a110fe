"""Mixed precision for training: bf16 autocast with channels_last where the hardware has it.

On CPUs with AVX512-BF16 or AMX (recent Xeon and EPYC), oneDNN runs bf16 convolutions about twice
as fast as fp32 (measured in ``benchmarks/training_speed.py``); on CUDA GPUs with bf16 the gain
is larger. Weights, optimiser state and the loss stay in fp32 (autocast only lowers the
arithmetic of the convolutions), so checkpoints are the same whichever precision made them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import torch

__all__ = ["autocast", "cpu_has_bf16", "resolve_precision"]

#: CPU flags (``/proc/cpuinfo``) that mean native bf16 matrix arithmetic.
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_has_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU advertises AVX512-BF16 or AMX-BF16 (False where it cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return any(flag in flags for flag in _BF16_FLAGS)
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run uses: ``"bf16"`` or ``"fp32"``.

    Parameters
    ----------
    precision : str
        ``"auto"``, ``"bf16"`` or ``"fp32"``.
    device : torch.device
        Where the run trains.

    Returns
    -------
    str
        ``"auto"`` becomes ``"bf16"`` on CUDA devices that support it and on CPUs with
        AVX512-BF16/AMX, ``"fp32"`` elsewhere; an explicit choice is kept.
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Autocast to bf16 when ``precision`` is ``"bf16"``; a no-op for ``"fp32"``."""
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
