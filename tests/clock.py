"""A clock that tests move by hand, for code that takes a ``timer``/``clock`` (as DRF's throttles do).

``clock()`` reads it; ``advance(seconds)`` and ``sleep(seconds)`` move it, so code that polls with a
bound (``while clock() < deadline: sleep(interval)``) runs through its whole wait at once. ``at(seconds,
callback)`` runs ``callback`` when the clock first reaches that many seconds after its start: something
that happens "meanwhile", such as a worker catching up, at a known point of the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.start = start
        self.now = start
        self._scheduled: list[tuple[float, Callable[[], Any]]] = []

    def __call__(self) -> float:
        return self.now

    @property
    def elapsed(self) -> float:
        return self.now - self.start

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [entry for entry in self._scheduled if entry[0] <= self.elapsed]
        self._scheduled = [entry for entry in self._scheduled if entry[0] > self.elapsed]
        for _, callback in sorted(due, key=lambda entry: entry[0]):
            callback()

    sleep = advance

    def at(self, seconds: float, callback: Callable[[], Any]) -> None:
        self._scheduled.append((seconds, callback))


class FakeDateTimeClock:
    """The same for code that reads an aware ``datetime`` (``django.utils.timezone.now``)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
