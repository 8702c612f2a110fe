"""One way to write a file atomically: a temporary file beside it, then a rename.

A reader never sees a half-written file, and an interrupted writer leaves the previous file (or
none) and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text"]


@contextlib.contextmanager
def atomic_write(
    path: str | Path, *, suffix: str | None = None, fsync: bool = False
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or Path
        The file to write (its folder is created when missing).
    suffix : str, optional
        Suffix of the temporary file (default ``".tmp"`` + the target's suffix, so that writers
        that choose a format by suffix, such as matplotlib, still do).
    fsync : bool
        Flush the file to disk before the rename (checkpoints).

    Yields
    ------
    Path
        The temporary file to write (it exists, empty).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.",
        suffix=suffix if suffix is not None else f".tmp{target.suffix}",
        dir=target.parent,
    )
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        if fsync:
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    target = Path(path)
    with atomic_write(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return target
