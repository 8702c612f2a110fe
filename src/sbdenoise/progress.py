"""Progress bars for long loops (rich), silent when asked or when not on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def progress_columns() -> tuple:
    """The columns every progress bar shows: label, bar, count, elapsed and remaining time."""
    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def progress_bar(
    items: Iterable[T], description: str, show: bool = True, total: int | None = None
) -> Iterator[T]:
    """Iterate over ``items`` with a rich progress bar (count, elapsed and remaining time).

    Parameters
    ----------
    items : iterable
        What to iterate over; its length is used when it has one.
    description : str
        Label shown left of the bar.
    show : bool
        False to iterate silently.
    total : int, optional
        Number of items, for iterators without a length.
    """
    if not show:
        yield from items
        return
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    with Progress(*progress_columns(), transient=False) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


@contextmanager
def progress_counter(
    total: int, description: str, show: bool = True, completed: int = 0
) -> Iterator[Callable[[int], None]]:
    """A progress bar advanced by hand: ``with progress_counter(n, "x") as advance: advance(k)``.

    Parameters
    ----------
    total : int
        Number of units of work.
    description : str
        Label shown left of the bar.
    show : bool
        False for a silent counter.
    completed : int
        Units already done (a resumed run).
    """
    if not show:
        yield lambda n=1: None
        return
    with Progress(*progress_columns(), transient=False) as progress:
        task = progress.add_task(description, total=total, completed=completed)
        yield lambda n=1: progress.advance(task, n)
