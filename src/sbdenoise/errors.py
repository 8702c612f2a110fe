"""Exceptions raised for bad input, with messages meant for the user.

Every error the package raises on purpose derives from :class:`SbdenoiseError`, so the CLI can
print its message in one line instead of a traceback from deep inside a library.
"""

from __future__ import annotations

from pathlib import Path


class SbdenoiseError(Exception):
    """Base class of every error sbdenoise raises on purpose."""


class InputError(SbdenoiseError, ValueError):
    """An input (array or file) that cannot be used as it is.

    Parameters
    ----------
    problem : str
        What is wrong, in words a microscopist understands.
    source : str or Path, optional
        The file (or other source) the problem was found in; it is named first in the message.
    """

    def __init__(self, problem: str, source: str | Path | None = None) -> None:
        self.problem = problem
        self.source = None if source is None else str(source)
        message = problem if self.source is None else f"{self.source}: {problem}"
        super().__init__(message)


class FileFormatError(InputError):
    """A file that is missing, unreadable, truncated or of an unsupported format."""


class NotCountsError(InputError):
    """Data in detector units (offset, gain) given where electron counts are required."""


class SimulationError(SbdenoiseError, RuntimeError):
    """Some structures of a dataset could not be simulated (the others are kept)."""


class OutputError(SbdenoiseError, OSError):
    """An output path that cannot be written (for instance, it is one of the inputs)."""
