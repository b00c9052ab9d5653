"""Rebuild a projection from the first event, beside the live read model, then swap it in.

The new tables are built in a scratch schema: a batch runs with ``SET LOCAL search_path`` pointing
there first, so the projector's queries (ORM or SQL naming tables unqualified) land in the copies while
the event log and checkpoints still resolve to ``public``. Reads keep using the live tables, and the
live runner keeps them current.
At the end one transaction locks the checkpoint (live batches then skip), applies what arrived
meanwhile, drops the live tables, moves the copies into ``public`` under the original index names,
and sets the checkpoint to where the copy stopped. Readers wait only for that short transaction.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from projections.models import ProjectionCheckpoint
from projections.projectors import PROJECTORS, Projector
from projections.runner import _decoded, checkpoint_for, read_safe_rows

State = ProjectionCheckpoint.State
_INDEX_SIGNATURE = re.compile(r"CREATE (UNIQUE )?INDEX \S+ ON \S+ (USING .*)")


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
    projector_class = PROJECTORS[name]
    schema = f"rebuild_{name}"
    tables = [model._meta.db_table for model in projector_class.tables]
    started = time.monotonic()
    checkpoint_for(name)
    ProjectionCheckpoint.objects.filter(name=name).update(state=State.REBUILDING, rebuild_position=0)
    try:
        _analyze_log()
        _create_shadow(schema, tables)
        cursor, events = (0, 0), 0
        while True:  # build the copy, one transaction per batch
            with transaction.atomic():
                cursor, count = _apply_batch(projector_class, schema, cursor, batch_size)
                ProjectionCheckpoint.objects.filter(name=name).update(rebuild_position=cursor[1])
            events += count
            if on_progress is not None and count:
                on_progress(count)
            if count < batch_size:
                break
        with transaction.atomic():  # catch up and swap in one short transaction
            ProjectionCheckpoint.objects.select_for_update().get(name=name)
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
                state=State.RUNNING,
                last_error="",
                failed_position=None,
                rebuild_position=None,
                updated_at=timezone.now(),
            )
    except BaseException as exc:
        _drop_schema(schema)
        ProjectionCheckpoint.objects.filter(name=name, state=State.REBUILDING).update(
            state=State.RUNNING, rebuild_position=None
        )
        if isinstance(exc, Exception) and not isinstance(exc, RebuildFailed):
            raise RebuildFailed(f"rebuilding {name} failed: {type(exc).__name__}: {exc}") from exc
        raise
    return RebuildResult(name=name, events=events, seconds=time.monotonic() - started)


def _apply_batch(
    projector_class: type[Projector], schema: str, after: tuple[int, int], limit: int
) -> tuple[tuple[int, int], int]:
    rows = read_safe_rows(after=after, limit=limit)
    if not rows:
        return after, 0
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL search_path TO {_q(schema)}, public")
    projector = projector_class()
    with _cyclic_gc_paused():
        projector.project(_decoded(rows, projector))  # on failure the rollback also undoes SET LOCAL
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path TO public")
    return (rows[-1].transaction_id, rows[-1].position), len(rows)


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
        cursor.execute("ANALYZE event_log (transaction_id, position)")


def _create_shadow(schema: str, tables: list[str]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
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
