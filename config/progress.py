"""Progress of a long management command: a bar on a terminal, a line every few seconds elsewhere
(a log file, a CI job, a cron mail), where a bar's carriage returns would be noise."""

from __future__ import annotations

import time
from types import TracebackType
from typing import IO, Protocol

from tqdm import tqdm


class Progress(Protocol):
    def update(self, n: float | None = 1) -> bool | None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...


class LineProgress:
    """``label: done/total events (percent)`` at most every ``interval`` seconds, and once at the end."""

    interval = 5.0
    timer = staticmethod(time.monotonic)

    def __init__(self, *, total: int, label: str, stream: IO[str]) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.done = 0
        self.reported = -1
        self.last_line = self.timer()

    def update(self, n: float | None = 1) -> bool | None:
        self.done += int(n or 0)
        if self.timer() - self.last_line >= self.interval:
            self._line()
        return None

    def _line(self) -> None:
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        self.stream.write(f"{self.label}: {self.done:,}/{self.total:,} events{share}\n")
        self.stream.flush()
        self.reported, self.last_line = self.done, self.timer()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None and self.reported != self.done:
            self._line()


def progress(*, total: int, label: str, stream: IO[str]) -> Progress:
    if stream.isatty():
        return tqdm(total=total, desc=label, unit="ev", file=stream)
    return LineProgress(total=total, label=label, stream=stream)
