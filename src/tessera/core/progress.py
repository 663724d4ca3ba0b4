"""Progress of long bulk work (issue 16): the nightly jobs and the tier review report each chunk done.

A job takes a `Progress` (keyword `progress`, default `SILENT`) and, before its first chunk, asks it
for a task: a description and how to count the work (a callable, so the count — one more query — is
run only when someone shows it). The task it gets back is called with the number of items each chunk
finished. The scheduled tasks run silent; a command run by hand on a terminal shows bars
(`console_progress`, with rich).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

#: Called with the number of items a chunk finished.
Advance = Callable[[int], None]


class Progress(Protocol):
    def task(self, description: str, count: Callable[[], int]) -> Advance: ...


class _Silent:
    def task(self, description: str, count: Callable[[], int]) -> Advance:
        return _ignore


def _ignore(done: int) -> None:
    return None


#: Reports nothing and counts nothing.
SILENT: Progress = _Silent()


class _Bars:
    def __init__(self, bars: RichProgress) -> None:
        self._bars = bars

    def task(self, description: str, count: Callable[[], int]) -> Advance:
        bars = self._bars
        task_id = bars.add_task(description, total=count())

        def advance(done: int) -> None:
            bars.update(task_id, advance=done)

        return advance


@contextmanager
def console_progress(stream: IO[str], *, enabled: bool = True) -> Iterator[Progress]:
    """Bars on `stream` while the block runs, when `enabled` and `stream` is a terminal; else `SILENT`
    (a command piped to a file or run by a test, or `--no-progress`)."""
    if not enabled or not stream.isatty():
        yield SILENT
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    with RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
    ) as bars:
        yield _Bars(bars)
