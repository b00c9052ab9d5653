"""Progress of long commands off a terminal: a line every ``interval`` seconds and one at the end."""

from __future__ import annotations

import io

import pytest

from config.progress import LineProgress, progress
from tests.clock import FakeClock


def test_lines_come_every_interval_and_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(LineProgress, "timer", clock)
    stream = io.StringIO()

    with progress(total=1000, label="order_summary", stream=stream) as bar:
        bar.update(100)
        clock.advance(LineProgress.interval)
        bar.update(400)  # an interval passed: a line
        bar.update(100)  # none
        clock.advance(LineProgress.interval)
        bar.update(400)

    assert stream.getvalue().splitlines() == [
        "order_summary: 500/1,000 events (50%)",
        "order_summary: 1,000/1,000 events (100%)",
    ]
