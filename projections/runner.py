"""Run projections: one batch = one transaction that locks the checkpoint, reads, applies, advances.

Gap safety (SPEC §4.4): positions come from a sequence, so a transaction can commit an event with a
*lower* position after another transaction committed a higher one. Reading "position > checkpoint"
would then skip it forever. Instead events are read in (writing transaction id, position) order and
only from transactions older than ``pg_snapshot_xmin(pg_current_snapshot())`` — the oldest transaction
still running. Everything below that horizon has committed or aborted, and every transaction that
commits later has a larger id, so the order never changes behind the checkpoint.

One runner per projection: the checkpoint row is locked with ``FOR UPDATE SKIP LOCKED``; a second
runner skips instead of waiting. Read-model writes and the checkpoint's compare-and-set commit in the
same transaction, so a batch that is repeated, late or concurrent changes nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from enum import StrEnum

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.types.datetime import TimestamptzLoader

from orders.store import EventRow, RecordedEvent, decode_rows
from projections import guard
from projections.models import ProjectionCheckpoint
from projections.projectors import PROJECTORS, Projector

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
# Failures of the connection or the server (a lost connection, a statement timeout) say nothing about
# the event being applied, so they never mark it as poison.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)

# ORDER BY names the table's columns: a bare ``transaction_id`` would mean the output column, the id cast to
# text, whose order differs from the ids' once they gain a digit (and which no index can give).
_SAFE_EVENTS_SQL = """
SELECT position, transaction_id::text, stream_id, version, event_type, schema_version, payload, metadata,
       recorded_at
FROM event_log
WHERE (transaction_id, position) > (%s::text::xid8, %s)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY event_log.transaction_id, event_log.position
LIMIT %s
"""

_PENDING_SQL = (
    "SELECT EXISTS (SELECT 1 FROM event_log WHERE (transaction_id, position) > (%s::text::xid8, %s))"
)


class Outcome(StrEnum):
    APPLIED = "applied"  # a batch was applied; there may be more
    IDLE = "idle"  # nothing safe to read
    BUSY = "busy"  # another runner holds the projection
    FAILED = "failed"  # stopped at a poison event
    STOPPED = "stopped"  # stopped by an operator
    REFUSED = "refused"  # transaction ids cannot be trusted (projections.guard): nothing was read


class CheckpointMoved(RuntimeError):
    """The checkpoint changed under a runner that held its lock: a bug, so the batch is rolled back."""


def checkpoint_for(name: str) -> ProjectionCheckpoint:
    checkpoint, _ = ProjectionCheckpoint.objects.get_or_create(name=name)
    return checkpoint


def run_batch(projector: Projector, *, batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[Outcome, int]:
    """Apply the next batch of safe events; return the outcome and how many events were read."""
    with transaction.atomic():
        checkpoint = _locked_checkpoint(projector.name)
        if checkpoint is None:
            return Outcome.BUSY, 0
        if checkpoint.state == ProjectionCheckpoint.State.FAILED:
            return Outcome.FAILED, 0
        if checkpoint.state == ProjectionCheckpoint.State.STOPPED:
            return Outcome.STOPPED, 0
        rows = read_safe_rows(after=(checkpoint.transaction_id, checkpoint.position), limit=batch_size)
        if not rows:
            return Outcome.IDLE, 0
        try:
            with transaction.atomic():  # a savepoint: a poison event must not take the batch down with it
                projector.project(decoded_for(projector, rows))
        except TRANSIENT_ERRORS:
            raise  # the database, not the event: roll back and let the next run try again
        except Exception:
            return _apply_until_poison(projector, checkpoint, rows), len(rows)
        _advance(checkpoint, rows)
        return Outcome.APPLIED, len(rows)


def _locked_checkpoint(name: str) -> ProjectionCheckpoint | None:
    """The checkpoint row, locked; None while another runner holds it. Made on first use: a worker runs
    a batch per projection per nudge, so the usual case (the row exists) must cost one query only."""
    locked = ProjectionCheckpoint.objects.select_for_update(skip_locked=True).filter(name=name).first()
    if locked is None and not ProjectionCheckpoint.objects.filter(name=name).exists():
        checkpoint_for(name)  # in a savepoint of this transaction
        locked = ProjectionCheckpoint.objects.select_for_update(skip_locked=True).filter(name=name).first()
    return locked


def read_safe_rows(*, after: tuple[int, int], limit: int) -> list[EventRow]:
    with connection.cursor() as cursor:
        # Django's timestamptz loader parses in Python; psycopg's own (in C) gives the same instant, in the
        # session's time zone, which Django sets to its connection's.
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(_SAFE_EVENTS_SQL, [str(after[0]), after[1], limit])
        fetched = cursor.fetchall()
    # Django has psycopg hand jsonb over as text (JSONField decodes it), so payload and metadata are text.
    return [
        EventRow(position, stream, version, kind, schema, payload, meta, at, int(xid))
        for position, xid, stream, version, kind, schema, payload, meta, at in fetched
    ]


def has_pending(name: str) -> bool:
    """Whether events exist beyond the checkpoint, safe to read yet or not."""
    checkpoint = checkpoint_for(name)
    with connection.cursor() as cursor:
        cursor.execute(_PENDING_SQL, [str(checkpoint.transaction_id), checkpoint.position])
        return bool(cursor.fetchone()[0])


def catch_up(
    projector_class: type[Projector],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_seconds: float = 30.0,
    guarded: bool = False,
) -> tuple[Outcome, int]:
    """Run batches until the projection is idle, busy elsewhere or stopped, or time runs out.

    Refuses (``projections.guard``) when the transaction ids cannot be trusted, checked once per run
    rather than per batch; ``guarded=True`` says the caller has just checked."""
    if not guarded and guard.refused():
        return Outcome.REFUSED, 0
    deadline = time.monotonic() + max_seconds
    total = 0
    while True:
        outcome, count = run_batch(projector_class(), batch_size=batch_size)
        total += count
        if outcome is not Outcome.APPLIED or time.monotonic() > deadline:
            return outcome, total


def catch_up_all(
    *, batch_size: int = DEFAULT_BATCH_SIZE, max_seconds: float = 30.0
) -> dict[str, tuple[Outcome, int]]:
    if guard.refused():
        return dict.fromkeys(PROJECTORS, (Outcome.REFUSED, 0))
    return {
        name: catch_up(projector, batch_size=batch_size, max_seconds=max_seconds, guarded=True)
        for name, projector in PROJECTORS.items()
    }


def retry(name: str) -> None:
    """Resume a failed projection after a fix: it re-reads the event it stopped at."""
    ProjectionCheckpoint.objects.filter(name=name, state=ProjectionCheckpoint.State.FAILED).update(
        state=ProjectionCheckpoint.State.RUNNING,
        last_error="",
        failed_position=None,
        updated_at=timezone.now(),
    )


def decoded_for(projector: Projector, rows: Sequence[EventRow]) -> list[RecordedEvent]:
    """The rows the projector handles, as events (``store.decode_rows``). Called inside the projector's
    savepoint, so a payload that cannot be read is a poison event like any other projector failure."""
    return decode_rows(rows, wanted=projector.handles)


def _apply_until_poison(
    projector: Projector, checkpoint: ProjectionCheckpoint, rows: Sequence[EventRow]
) -> Outcome:
    """Apply events one by one up to the first that fails; keep the good ones, stop at the bad one."""
    for index, row in enumerate(rows):
        if not projector.handles(row.event_type):
            continue
        try:
            with transaction.atomic():
                type(projector)().project(decoded_for(projector, [row]))
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            if index:
                _advance(checkpoint, rows[:index])
            logger.error(
                "projection %s stopped at event %s: %s", projector.name, row.position, type(exc).__name__
            )
            ProjectionCheckpoint.objects.filter(name=projector.name).update(
                state=ProjectionCheckpoint.State.FAILED,
                failed_position=row.position,
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                updated_at=timezone.now(),
            )
            return Outcome.FAILED
    _advance(checkpoint, rows)  # the failure did not come back one event at a time
    return Outcome.APPLIED


def _advance(checkpoint: ProjectionCheckpoint, rows: Sequence[EventRow]) -> None:
    last = rows[-1]
    moved = ProjectionCheckpoint.objects.filter(
        name=checkpoint.name, transaction_id=checkpoint.transaction_id, position=checkpoint.position
    ).update(
        transaction_id=last.transaction_id,
        position=last.position,
        events_applied=F("events_applied") + len(rows),
        updated_at=timezone.now(),
    )
    if moved != 1:
        raise CheckpointMoved(f"checkpoint {checkpoint.name} moved during a batch")
    checkpoint.transaction_id, checkpoint.position = last.transaction_id, last.position
