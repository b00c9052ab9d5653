"""Fan-out: turn the log's events into deliveries, one per (endpoint, event), without a second outbox.

Each endpoint has a cursor in the log's commit order. A batch reads the events after it through the
read side's gap-safe reader (``projections.runner.read_safe_rows``: only transactions below the oldest
running one, in (transaction id, position) order), and in one transaction inserts the deliveries the
endpoint wants and moves the cursor by compare-and-set. The cursor row is locked with SKIP LOCKED, so a
second fan-out skips instead of waiting; the unique (endpoint, position) makes a repeated batch insert
nothing twice; a batch killed half-way is rolled back by PostgreSQL and read again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from orders.store import EventRow
from projections import guard
from projections.runner import read_safe_rows
from subscriptions.models import Endpoint, FanoutCursor

# The newest event already readable: a new endpoint starts after it (it is sent what commits from now on).
_SAFE_TAIL_SQL = """
SELECT transaction_id::text, position FROM event_log
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY event_log.transaction_id DESC, event_log.position DESC LIMIT 1
"""

_INSERT_SQL = """
INSERT INTO subscriptions_delivery
    (endpoint_id, position, stream_id, stream_version, event_type, state, attempts, next_attempt_at,
     last_error, created_at, updated_at)
SELECT %s::uuid, p, s, v, t, 'pending', 0, now(), '', now(), now()
FROM unnest(%s::bigint[], %s::uuid[], %s::integer[], %s::text[]) AS e(p, s, v, t)
ON CONFLICT ON CONSTRAINT subscriptions_delivery_once DO NOTHING
"""


class CursorMoved(RuntimeError):
    """The cursor changed under a fan-out that held its lock: a bug, so the batch is rolled back."""


@dataclass(frozen=True)
class BatchResult:
    read: int
    inserted: int
    busy: bool = False


def start_cursor(endpoint: Endpoint) -> FanoutCursor:
    """The endpoint's cursor, made at the log's safe tail the first time."""
    with connection.cursor() as cursor:
        cursor.execute(_SAFE_TAIL_SQL)
        row = cursor.fetchone()
    xid, position = (int(row[0]), int(row[1])) if row else (0, 0)
    made, _ = FanoutCursor.objects.get_or_create(
        endpoint=endpoint, defaults={"transaction_id": xid, "position": position}
    )
    return made


def fan_out_batch(endpoint: Endpoint, *, batch_size: int) -> BatchResult:
    """Insert the deliveries of the next batch of safe events for ``endpoint``; move its cursor."""
    with transaction.atomic():
        cursor = FanoutCursor.objects.select_for_update(skip_locked=True).filter(endpoint=endpoint).first()
        if cursor is None:
            if not FanoutCursor.objects.filter(endpoint=endpoint).exists():
                start_cursor(endpoint)
            return BatchResult(0, 0, busy=True)
        rows = read_safe_rows(after=(cursor.transaction_id, cursor.position), limit=batch_size)
        if not rows:
            return BatchResult(0, 0)
        inserted = _insert(endpoint, [row for row in rows if endpoint.wants(row.event_type)])
        _advance(cursor, rows)
        return BatchResult(len(rows), inserted)


def _insert(endpoint: Endpoint, rows: list[EventRow]) -> int:
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [
                str(endpoint.pk),
                [row.position for row in rows],
                [row.stream_id for row in rows],
                [row.version for row in rows],
                [row.event_type for row in rows],
            ],
        )
        return int(cursor.rowcount)


def _advance(cursor: FanoutCursor, rows: list[EventRow]) -> None:
    last = rows[-1]
    moved = FanoutCursor.objects.filter(
        endpoint=cursor.endpoint_id, transaction_id=cursor.transaction_id, position=cursor.position
    ).update(
        transaction_id=last.transaction_id,
        position=last.position,
        events_read=F("events_read") + len(rows),
        updated_at=timezone.now(),
    )
    if moved != 1:
        raise CursorMoved(f"the fan-out cursor of endpoint {cursor.endpoint_id} moved during a batch")


def fan_out(*, batch_size: int, max_seconds: float = 10.0) -> int:
    """Fan out for every active endpoint until each is idle or time runs out; the deliveries inserted.
    Paused and disabled endpoints keep their cursor: resuming drains their backlog from there."""
    if guard.refused():  # the transaction ids cannot be trusted: reading would skip events
        return 0
    deadline = time.monotonic() + max_seconds
    total = 0
    for endpoint in Endpoint.objects.filter(state=Endpoint.State.ACTIVE):
        while True:
            result = fan_out_batch(endpoint, batch_size=batch_size)
            total += result.inserted
            if result.busy or result.read < batch_size or time.monotonic() > deadline:
                break
    return total
