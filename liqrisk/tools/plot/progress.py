"""A rich progress bar for the picture jobs (``progress(description, done, total)`` callbacks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from liqrisk.tools.plot.data import Progress


@contextmanager
def rich_progress(*, disable: bool = False) -> Iterator[Progress]:
    """Yield a callback that drives one rich progress bar on stderr (nothing when ``disable``)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=disable,
        transient=False,
    )
    task = None

    def update(description: str, done: int, total: int) -> None:
        nonlocal task
        if task is None:
            task = bar.add_task(description, total=total)
        bar.update(task, description=description, completed=done, total=total)

    with bar:
        yield update
