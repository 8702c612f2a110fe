"""A machine-wide cache of finished datasets, keyed by the hash of their spec.

A spec that was simulated once on a machine is never simulated again: ``sbdenoise simulate``
(and :func:`sbdenoise.simulate.runner.run_simulation`) first looks in the cache for a finished
store of the same spec and links it into the output folder (a hard link: no copy, no extra disk;
a copy across file systems), and adds every store it finishes to the cache the same way.

The key is the SHA-256 of the spec's canonical JSON (sorted keys), together with the sbdenoise
version's major.minor (a new simulator may change images). The cache lives in
``$SBDENOISE_CACHE`` or ``~/.cache/sbdenoise/datasets``; ``SBDENOISE_CACHE=off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from sbdenoise import __version__
from sbdenoise.config import DatasetSpec
from sbdenoise.io.atomic import atomic_write

__all__ = ["cache_dir", "lookup", "remember", "spec_key"]

#: Environment variable naming the cache folder (``off`` disables the cache).
CACHE_ENV = "SBDENOISE_CACHE"
#: File name of a cached store.
CACHED_STORE = "dataset.h5"


def spec_key(spec: DatasetSpec) -> str:
    """Hex key of a spec: SHA-256 of its canonical JSON and the simulator's version."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    release = ".".join(__version__.split(".")[:2])
    return hashlib.sha256(f"{release}\n{canonical}".encode()).hexdigest()


def cache_folder(variable: str, name: str) -> Path | None:
    """A cache folder named by an environment variable, or None when the variable says ``off``.

    Parameters
    ----------
    variable : str
        The environment variable; ``off``, ``0``, ``none`` or empty disables the cache.
    name : str
        Subfolder of ``~/.cache/sbdenoise`` used when the variable is not set.

    Returns
    -------
    Path or None
    """
    value = os.environ.get(variable)
    if value is not None and value.strip().lower() in ("off", "0", "none", ""):
        return None
    if value:
        return Path(value)
    return Path.home() / ".cache" / "sbdenoise" / name


def cache_dir() -> Path | None:
    """The cache folder, or None when ``SBDENOISE_CACHE=off``."""
    return cache_folder(CACHE_ENV, "datasets")


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (atomically), copying when a link is impossible."""
    with atomic_write(target) as temporary:
        temporary.unlink()
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copy2(source, temporary)


def lookup(spec: DatasetSpec, target: Path) -> bool:
    """Put the cached store of ``spec`` at ``target`` if there is one; True when it was found."""
    folder = cache_dir()
    if folder is None:
        return False
    cached = folder / spec_key(spec) / CACHED_STORE
    if not cached.is_file():
        return False
    _link_or_copy(cached, target)
    return True


def remember(spec: DatasetSpec, store: Path) -> Path | None:
    """Add a finished store to the cache (nothing when disabled or already there)."""
    folder = cache_dir()
    if folder is None:
        return None
    entry = folder / spec_key(spec)
    cached = entry / CACHED_STORE
    if cached.is_file():
        return cached
    try:
        entry.mkdir(parents=True, exist_ok=True)
        (entry / "spec.json").write_text(spec.model_dump_json(indent=2) + "\n")
        _link_or_copy(store, cached)
    except OSError:
        return None  # a cache that cannot be written is not an error of the simulation
    return cached
