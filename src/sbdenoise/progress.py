"""Progress bars for long loops (rich), silent when asked or when not on a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


def progress_bar(items: Iterable[T], description: str, show: bool = True) -> Iterator[T]:
    """Iterate over ``items`` with a rich progress bar (count, elapsed and remaining time).

    Parameters
    ----------
    items : iterable
        What to iterate over; its length is used when it has one.
    description : str
        Label shown left of the bar.
    show : bool
        False to iterate silently.
    """
    if not show:
        yield from items
        return
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
