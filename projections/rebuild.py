"""Rebuild a projection from the first event, beside the live read model, then swap it in.

The new tables are built in a scratch schema, the copy. While a batch applies events the copy is the only
schema on the search path (``SET LOCAL``, undone by the batch's commit or rollback), so the projector's
queries (ORM or SQL naming tables unqualified) can only land in the copies: if the copy were missing
they fail, they never resolve to the live tables in ``public``. The log is read, and events decoded, before
the switch; the rebuild's own statements name ``public`` in full. Reads keep using the live tables, and
the live runner keeps them current. At the end one transaction locks the checkpoint (live batches then
skip), applies what arrived meanwhile, drops the live tables, moves the copies into ``public`` under the
original index names, and sets the checkpoint to where the copy stopped. Readers wait only for that
short transaction.

One rebuild per projection at a time. A rebuild holds a session-level advisory lock, keyed by the
projection, on its connection from before it touches the checkpoint until after its last write; a second
one fails to take it and is refused (``RebuildInProgress``) without touching the first one's copy. The
lock, not a state in a table, says who owns a rebuild, because it dies with its connection: a rebuild
whose process is killed (SIGKILL, a lost machine) frees it at once, and the next rebuild, holding it,
knows any ``rebuilding`` state and any copy left behind are abandoned, and drops the copy. (A state
compare-and-set alone would need an owner that can be checked for liveness, and a timeout.)

Entry points that only queue a rebuild (API, admin) first record the request with a compare-and-set on
the checkpoint (``request_rebuild``): state ``rebuilding`` with no rebuild position yet. A second request
is refused while that request waits for a worker or while a rebuild holds the lock; a request whose
rebuild was killed (the lock is free) or whose message never reached a worker (after
``QUEUED_REQUEST_EXPIRY``) no longer counts. A rebuild that starts takes over whatever request is there.

A projection an operator stopped is not rebuilt (``InvalidTransition``): a rebuild ends in state
``running``. One stopped while it rebuilds stays stopped.
"""

from __future__ import annotations

import gc
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from psycopg import sql

from config.errors import ApplicationError, InvalidTransition
from projections import guard
from projections.models import ProjectionCheckpoint
from projections.projectors import PROJECTORS, Projector
from projections.runner import checkpoint_for, decoded_for, read_safe_rows

logger = logging.getLogger(__name__)

State = ProjectionCheckpoint.State
_INDEX_SIGNATURE = re.compile(r"CREATE (UNIQUE )?INDEX \S+ ON \S+ (USING .*)")
_LOCK_CLASS = 0x7262  # pg advisory lock class for rebuilds (two-key form), keyed by projection
# A rebuild request whose message no worker has started by then no longer blocks the next request.
QUEUED_REQUEST_EXPIRY = timedelta(minutes=10)
_CHECKPOINT_TABLE = sql.Identifier("public", ProjectionCheckpoint._meta.db_table)


class RebuildInProgress(ApplicationError):
    """Another rebuild of the projection is queued or running; this one changed nothing."""

    code = "rebuild_in_progress"
    status = 409


class RebuildFailed(RuntimeError):
    """An event could not be applied; the live read model is untouched."""


@dataclass(frozen=True)
class RebuildResult:
    name: str
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuild(
    name: str, *, batch_size: int = 5000, on_progress: Callable[[int], None] | None = None
) -> RebuildResult:
    """Rebuild ``name`` now, in this process. Raises ``RebuildInProgress`` while another one runs and
    ``InvalidTransition`` for a stopped projection, both before touching anything."""
    projector_class = PROJECTORS[name]
    schema = f"rebuild_{name}"
    tables = [model._meta.db_table for model in projector_class.tables]
    started = time.monotonic()
    checkpoint_for(name)
    with _rebuild_lock(name):
        _refuse_after_a_move()
        _begin(name)
        try:
            events = _build_and_swap(projector_class, schema, tables, batch_size, on_progress)
        except BaseException as exc:
            _abandon(name, schema)
            if isinstance(exc, Exception) and not isinstance(exc, RebuildFailed):
                raise RebuildFailed(f"rebuilding {name} failed: {type(exc).__name__}: {exc}") from exc
            raise
    return RebuildResult(name=name, events=events, seconds=time.monotonic() - started)


def request_rebuild(name: str) -> None:
    """Record that a rebuild of ``name`` is wanted, before queueing it, so that a second request is
    refused (``RebuildInProgress``) while this one waits for a worker or runs. One conditional UPDATE:
    concurrent requests queue on the checkpoint's row lock and see each other's outcome."""
    _refuse_after_a_move()
    checkpoint_for(name)
    # Any: psycopg binds the timedelta as an interval; django-stubs lists fewer types as parameters.
    params: dict[str, Any] = {
        "name": name,
        "rebuilding": State.REBUILDING,
        "stopped": State.STOPPED,
        "lock_class": _LOCK_CLASS,
        "lock_key": _lock_key(name),
        "expiry": QUEUED_REQUEST_EXPIRY,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL(_REQUEST_SQL).format(table=_CHECKPOINT_TABLE), params)
        requested = cursor.fetchone()
    if requested is not None:
        return
    current = ProjectionCheckpoint.objects.get(name=name)
    if current.state == State.STOPPED:
        raise _stopped(name)
    raise RebuildInProgress(f"a rebuild of {name} is already in progress", details={"name": name})


def withdraw_rebuild_request(name: str) -> None:
    """Undo ``request_rebuild`` when the rebuild could not be queued, unless a rebuild started meanwhile."""
    ProjectionCheckpoint.objects.filter(
        name=name, state=State.REBUILDING, rebuild_position__isnull=True
    ).update(state=State.RUNNING, rebuild_requested_at=None)


# The request wins when no rebuild holds the lock (whatever the state says: the live runner may have
# marked the projection failed meanwhile) and no other request is waiting: the one recorded, if any,
# either started (it has a position, so without the lock its process is gone) or expired unstarted.
# A rebuild takes the lock before it records a position and gives it up after its last write.
_REQUEST_SQL = """
UPDATE {table} SET state = %(rebuilding)s, rebuild_position = NULL, rebuild_requested_at = now()
WHERE name = %(name)s AND state <> %(stopped)s
  AND NOT EXISTS (SELECT 1 FROM pg_locks
                  WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database
                                                              WHERE datname = current_database())
                    AND classid = %(lock_class)s::bigint::oid AND objid = %(lock_key)s::bigint::oid
                    AND objsubid = 2)
  AND (state <> %(rebuilding)s OR rebuild_position IS NOT NULL OR rebuild_requested_at IS NULL
       OR rebuild_requested_at < now() - %(expiry)s)
RETURNING name
"""


@contextmanager
def _rebuild_lock(name: str) -> Iterator[None]:
    """Hold the projection's rebuild lock on this connection for the block; refuse if it is taken.
    Session-level: it outlives the block's transactions, and dies with the connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, _lock_key(name)])
        if not cursor.fetchone()[0]:
            raise RebuildInProgress(f"a rebuild of {name} is already in progress", details={"name": name})
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, _lock_key(name)])
        except DatabaseError:
            # The session is broken or its transaction aborted: closing it is what frees the lock.
            logger.warning("could not release the rebuild lock of %s; closing the connection", name)
            connection.close()


def _lock_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF  # positive: pg_locks shows the key as an oid


def _begin(name: str) -> None:
    """Mark the rebuild as running. Under the lock, any ``rebuilding`` state found is a request this
    rebuild now serves or a rebuild whose process is gone: either way it is this one's now."""
    with transaction.atomic():
        checkpoint = ProjectionCheckpoint.objects.select_for_update().get(name=name)
        if checkpoint.state == State.STOPPED:
            raise _stopped(name)
        ProjectionCheckpoint.objects.filter(name=name).update(
            state=State.REBUILDING,
            rebuild_position=0,
            rebuild_requested_at=checkpoint.rebuild_requested_at or timezone.now(),
        )


def _build_and_swap(
    projector_class: type[Projector],
    schema: str,
    tables: list[str],
    batch_size: int,
    on_progress: Callable[[int], None] | None,
) -> int:
    name = projector_class.name
    _analyze_log()
    _create_shadow(schema, tables)
    cursor, events = (0, 0), 0
    while True:  # build the copy, one transaction per batch
        with transaction.atomic():
            cursor, count = _apply_batch(projector_class, schema, cursor, batch_size, bulk=True)
            _record_progress(name, cursor[1])
        events += count
        if on_progress is not None and count:
            on_progress(count)
        if count < batch_size:
            break
    with transaction.atomic():  # what the bulk batches left out, once per row, before the short swap
        _on_copy(schema, projector_class().finish_bulk)
    with transaction.atomic():  # catch up and swap in one short transaction
        checkpoint = ProjectionCheckpoint.objects.select_for_update().get(name=name)
        while True:
            cursor, count = _apply_batch(projector_class, schema, cursor, batch_size)
            events += count
            if count < batch_size:
                break
        for table in tables:
            _swap(schema, table)
        _drop_schema(schema)
        ProjectionCheckpoint.objects.filter(name=name).update(
            transaction_id=cursor[0],
            position=cursor[1],
            events_applied=events,
            # An operator who stopped the projection meanwhile meant it: it stays stopped.
            state=State.STOPPED if checkpoint.state == State.STOPPED else State.RUNNING,
            last_error="",
            failed_position=None,
            rebuild_position=None,
            rebuild_requested_at=None,
            updated_at=timezone.now(),
        )
    return events


def _abandon(name: str, schema: str) -> None:
    """After a failure: drop the copy, and let the live projection go on as it was."""
    try:
        _drop_schema(schema)
        ProjectionCheckpoint.objects.filter(name=name).update(
            state=Case(When(state=State.REBUILDING, then=Value(State.RUNNING)), default=F("state")),
            rebuild_position=None,
            rebuild_requested_at=None,
        )
    except DatabaseError:
        # The connection is gone or unusable: the lock goes with it, and the next rebuild drops the copy.
        logger.warning("could not clean up after the failed rebuild of %s", name, exc_info=True)


def _refuse_after_a_move() -> None:
    """After a logical move the log's transaction ids are ahead of the server's: a rebuild would read
    only what lies below the horizon and swap in nearly empty tables. ``rebase_projections`` first (it
    advances the server's ids, then rebuilds)."""
    if guard.log_ahead_of_server():
        raise InvalidTransition(
            "the event log's transaction ids are ahead of this PostgreSQL server's (the data was moved "
            f"here by a logical copy): run `{guard.REBASE_COMMAND}`, which re-bases them and rebuilds "
            "every projection"
        )


def _stopped(name: str) -> InvalidTransition:
    return InvalidTransition(
        f"projection {name} is stopped by an operator; start it before rebuilding it", details={"name": name}
    )


def _apply_batch(
    projector_class: type[Projector], schema: str, after: tuple[int, int], limit: int, *, bulk: bool = False
) -> tuple[tuple[int, int], int]:
    rows = read_safe_rows(after=after, limit=limit)
    if not rows:
        return after, 0
    projector = projector_class()
    projector.bulk = bulk
    with _cyclic_gc_paused():
        events = decoded_for(projector, rows)  # may read keys from public tables: before the switch
        _on_copy(schema, partial(projector.project, events))
    return (rows[-1].transaction_id, rows[-1].position), len(rows)


def _on_copy(schema: str, work: Callable[[], None]) -> None:
    """Run ``work`` with the copy as the only schema on the search path (inside a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
    work()  # on failure the rollback also undoes SET LOCAL
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path TO DEFAULT")


def _record_progress(name: str, position: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("UPDATE {} SET rebuild_position = %s WHERE name = %s").format(_CHECKPOINT_TABLE),
            [position, name],
        )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A batch makes tens of thousands of objects that live until it ends, so the cyclic collector
    would walk the whole heap again and again (an eighth of a rebuild's time) for garbage that reference
    counting frees anyway. It runs again between batches, for any cycle a batch left."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _analyze_log() -> None:
    """Fresh statistics for the log's commit order. Without them (a log just filled, autovacuum not yet
    round) PostgreSQL reckons the commit-order index slow to walk and sorts every remaining event for each
    batch instead. Only these columns: the JSON ones took most of the time. A role that does not own the
    log gets a warning from PostgreSQL, not an error."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE public.event_log (transaction_id, position)")


def _create_shadow(schema: str, tables: list[str]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        # A copy left by a rebuild that was killed: under the lock, no rebuild alive can be using it.
        cursor.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")
        cursor.execute(f"CREATE SCHEMA {_q(schema)}")
        for table in tables:
            cursor.execute(f"CREATE TABLE {_q(schema)}.{_q(table)} (LIKE public.{_q(table)} INCLUDING ALL)")


def _swap(schema: str, table: str) -> None:
    """Replace public.table by schema.table, giving the copy's indexes the live ones' names."""
    live_names = {_signature(definition): index for index, definition in _indexes("public", table)}
    copy_names = {_signature(definition): index for index, definition in _indexes(schema, table)}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE public.{_q(table)}")
        cursor.execute(f"ALTER TABLE {_q(schema)}.{_q(table)} SET SCHEMA public")
        for signature, copy_name in copy_names.items():
            live_name = live_names.get(signature)
            if live_name and live_name != copy_name:
                cursor.execute(f"ALTER INDEX public.{_q(copy_name)} RENAME TO {_q(live_name)}")


def _indexes(schema: str, table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            [schema, table],
        )
        return list(cursor.fetchall())


def _signature(definition: str) -> str:
    match = _INDEX_SIGNATURE.match(definition)
    return f"{match.group(1) or ''}{match.group(2)}" if match else definition


def _drop_schema(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")


def _q(identifier: str) -> str:
    return connection.ops.quote_name(identifier)
