"""The pull feed: the log in commit order, capped at the gap-safe horizon, through the read side's
reader (``projections.runner.read_safe_rows``).

A client keeps the position of the last event it read and passes it back as ``after``. Positions in
the feed follow commit order, not number order (an event can commit after a higher-numbered one), so
the feed finds the writing transaction of that event and continues after (transaction id, position):
every event comes exactly once, none is skipped by a transaction that was still open.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection

from orders.store import decode_rows
from projections.runner import read_safe_rows
from subscriptions.envelope import envelope

POLL_INTERVAL = 0.2


class UnknownPosition(LookupError):
    pass


def _cursor_of(after: int) -> tuple[int, int]:
    if after == 0:
        return (0, 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT transaction_id::text FROM event_log WHERE position = %s", [after])
        row = cursor.fetchone()
    if row is None:
        raise UnknownPosition(after)
    return (int(row[0]), after)


def page(*, after: int, limit: int, wait: float = 0.0) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` events after position ``after`` (0: from the start) and the position to ask
    after next. Waits up to ``wait`` seconds for one to become readable when none is yet."""
    start = _cursor_of(after)
    deadline = time.monotonic() + min(wait, settings.SUBSCRIPTION_FEED_MAX_WAIT)
    while True:
        rows = read_safe_rows(after=start, limit=limit)
        if rows or time.monotonic() >= deadline:
            break
        connection.close_if_unusable_or_obsolete()
        time.sleep(POLL_INTERVAL)
    events = [envelope(recorded) for recorded in decode_rows(rows)]
    return events, (rows[-1].position if rows else after)
