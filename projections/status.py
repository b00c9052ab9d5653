"""What the API, the admin and readiness checks ask of the read side: status, lag, read-your-writes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from projections.models import ProjectionCheckpoint
from projections.projectors import PROJECTORS

LAG_COUNT_LIMIT = 1_000_000  # counting further would cost more than the number is worth

_LAG_SQL = """
SELECT (SELECT count(*)
        FROM (SELECT 1 FROM event_log
              WHERE (transaction_id, position) > (%(x)s::text::xid8, %(p)s) LIMIT %(limit)s) AS pending),
       (SELECT recorded_at FROM event_log WHERE (transaction_id, position) > (%(x)s::text::xid8, %(p)s)
        ORDER BY transaction_id, position LIMIT 1)
"""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    state: str
    position: int
    events_applied: int
    lag_events: int
    lag_seconds: float
    last_error: str
    failed_position: int | None
    rebuild_position: int | None
    updated_at: datetime | None


def projection_status(names: Iterable[str] | None = None) -> list[ProjectionStatus]:
    names = list(names or PROJECTORS)
    checkpoints = ProjectionCheckpoint.objects.in_bulk(names)
    now = timezone.now()
    result = []
    for name in names:
        checkpoint = checkpoints.get(name) or ProjectionCheckpoint(name=name)
        with connection.cursor() as cursor:
            cursor.execute(
                _LAG_SQL,
                {"x": str(checkpoint.transaction_id), "p": checkpoint.position, "limit": LAG_COUNT_LIMIT},
            )
            pending, oldest = cursor.fetchone()
        result.append(
            ProjectionStatus(
                name=name,
                state=checkpoint.state,
                position=checkpoint.position,
                events_applied=checkpoint.events_applied,
                lag_events=pending,
                lag_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
                last_error=checkpoint.last_error,
                failed_position=checkpoint.failed_position,
                rebuild_position=checkpoint.rebuild_position,
                updated_at=checkpoint.updated_at,
            )
        )
    return result


# --- read-your-writes: waiting for a token of orders.consistency -------------------------------------


class InvalidToken(ValueError):
    pass


_SHAPE_HINT = "a consistency token looks like 1234.5678"
# A token names one committed event: its writing transaction and its position (the primary key).
_ISSUED_SQL = (
    "SELECT EXISTS (SELECT 1 FROM event_log WHERE position = %s AND transaction_id = %s::text::xid8)"
)


def parse_token(token: str) -> tuple[int, int]:
    try:
        xid, position = (int(part) for part in token.split("."))
    except ValueError:
        raise InvalidToken(_SHAPE_HINT) from None
    if not (0 <= xid < 2**64 and 0 < position < 2**63):  # xid8 and bigint ranges
        raise InvalidToken(_SHAPE_HINT)
    return xid, position


def check_issued(token: str) -> tuple[int, int]:
    """The token's (transaction id, position), if a command answered it; else ``InvalidToken``. A forged
    or future token would otherwise hold a web thread for the whole wait, for nothing."""
    xid, position = parse_token(token)
    with connection.cursor() as cursor:
        cursor.execute(_ISSUED_SQL, [position, str(xid)])
        (issued,) = cursor.fetchone()
    if not issued:
        raise InvalidToken("no command answered with this consistency token")
    return xid, position


def has_reached(token: str, names: Iterable[str] | None = None) -> bool:
    target = parse_token(token)
    names = list(names or PROJECTORS)
    reached = ProjectionCheckpoint.objects.filter(name__in=names).values_list("transaction_id", "position")
    positions = list(reached)
    return len(positions) == len(names) and all(position >= target for position in positions)


def wait_until_projected(
    token: str,
    *,
    names: Iterable[str] | None = None,
    timeout: float = 2.0,
    interval: float = 0.02,
    timer: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Wait (at most ``timeout`` seconds of ``timer``) until the projections applied the token's event.

    ``timer`` and ``sleep`` are the clock, so tests move time instead of spending the wait."""
    check_issued(token)
    names = list(names or PROJECTORS)
    deadline = timer() + timeout
    while True:
        if has_reached(token, names):
            return True
        if timer() >= deadline:
            return False
        sleep(interval)
