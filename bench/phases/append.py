"""Appends per second: the event store against a raw psycopg INSERT of the same rows and the
``eventsourcing`` library's PostgreSQL application recorder, one event per transaction at 1/4/16 writer
threads; group commit; and batched appends (100 events per transaction).

Each writer thread appends the ten events of an order to its own stream, one after the other, then
starts a new stream: no writer waits for another's row, so the figures show the cost of a commit and
of the code around it. Writers run in up to 2 processes (16 writers: 2 x 8 threads; see bench.load).
Raw, store and peer alternate at each thread count so that a table growing during the run favours
none of them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID, uuid4

import psycopg
from django.db import connection, connections, transaction

from bench.group_commit import AppendRequest, GroupCommitter
from bench.load import MakeWorker, Work, measure
from bench.phases import Params
from bench.workload import long_stream, metadata, order_events
from orders import store
from orders.events import Event

_RAW_INSERT = (
    "INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata)"
    " VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb)"
)


class _Streams:
    """One writer's streams: the next (stream, version) to append at, ``length`` events per stream."""

    def __init__(self, length: int) -> None:
        self.length, self.stream, self.version = length, uuid4(), 0

    def next(self) -> tuple[UUID, int]:
        if self.version == self.length:
            self.stream, self.version = uuid4(), 0
        self.version += 1
        return self.stream, self.version - 1


def _close_django() -> None:
    connections.close_all()


def store_writer(i: int) -> tuple[Work, Any]:
    events, meta, streams = order_events(i), metadata(), _Streams(10)

    def work() -> int:
        stream, version = streams.next()
        with transaction.atomic():
            store.append(stream, version, [events[version]], metadata=meta)
        return 1

    return work, _close_django


def raw_writer(i: int) -> tuple[Work, Any]:
    """The baseline: the same rows, serialised once up front, one INSERT and one COMMIT each."""
    events, meta, streams = order_events(i), json.dumps(metadata()), _Streams(10)
    rows = [(e.type, e.schema_version, json.dumps(e.to_payload())) for e in events]
    conn = psycopg.connect(os.environ["DATABASE_URL"])

    def work() -> int:
        stream, version = streams.next()
        kind, schema, payload = rows[version]
        conn.execute(_RAW_INSERT, (stream, version + 1, kind, schema, payload, meta))
        conn.commit()
        return 1

    return work, conn.close


def group_writer(committers: _PerProcess, tag: str) -> MakeWorker:
    def make(i: int) -> tuple[Work, Any]:
        committer: GroupCommitter = committers.get()
        events, meta, streams = order_events(i), metadata(command=tag), _Streams(10)

        def work() -> int:
            stream, version = streams.next()
            committer.append(AppendRequest(stream, version, [events[version]], meta))
            return 1

        return work, _close_django

    return make


def peer_writer(recorders: _PerProcess, *, batch: int = 1) -> MakeWorker:
    """The ``eventsourcing`` library's ``PostgresApplicationRecorder.insert_events``: its own table and
    connection pool, the same payload bytes, ``batch`` events per call (one transaction each)."""
    from eventsourcing.persistence import StoredEvent

    def make(i: int) -> tuple[Work, Any]:
        recorder = recorders.get()
        events = order_events(i) if batch == 1 else long_stream(batch)
        states = [(f"orders.events:{e.type}", json.dumps(e.to_payload()).encode()) for e in events]
        streams = _Streams(len(events))

        def work() -> int:
            stored = []
            for _ in range(batch):
                stream, version = streams.next()
                topic, state = states[version]
                stored.append(StoredEvent(stream, version + 1, topic, state))
            recorder.insert_events(stored)
            return batch

        return work, lambda: None

    return make


def batched_store_writer(size: int) -> MakeWorker:
    def make(i: int) -> tuple[Work, Any]:
        events, meta = long_stream(size), metadata()

        def work() -> int:
            with transaction.atomic():
                store.append(uuid4(), 0, events, metadata=meta)
            return size

        return work, _close_django

    return make


def batched_raw_writer(size: int) -> MakeWorker:
    def make(i: int) -> tuple[Work, Any]:
        events: list[Event] = long_stream(size)
        meta = json.dumps(metadata())
        rows = [(e.type, e.schema_version, json.dumps(e.to_payload())) for e in events]
        conn = psycopg.connect(os.environ["DATABASE_URL"])

        def work() -> int:
            stream = uuid4()
            with conn.cursor() as cursor:
                cursor.executemany(
                    _RAW_INSERT,
                    [
                        (stream, v + 1, kind, schema, payload, meta)
                        for v, (kind, schema, payload) in enumerate(rows)
                    ],
                )
            conn.commit()
            return size

        return work, conn.close

    return make


class _PerProcess:
    """One shared object per process (a forked writer process makes its own): a committer, a pool."""

    def __init__(self, make: Callable[[], Any], close: Callable[[Any], None] = lambda value: None) -> None:
        self.make, self.close, self.lock, self.pid, self.value = make, close, threading.Lock(), 0, None

    def reset(self) -> None:
        """Before a fork: a child that inherited open connections would close them for the parent too."""
        with self.lock:
            if self.value is not None and self.pid == os.getpid():
                self.close(self.value)
            self.value, self.pid = None, 0

    def get(self) -> Any:
        with self.lock:
            if self.pid != os.getpid():
                self.value, self.pid = self.make(), os.getpid()
            return self.value


def peer_recorder(pool_size: int, *, create_table: bool = False) -> Any:
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    url = urlsplit(os.environ["DATABASE_URL"])
    query = parse_qs(url.query)
    datastore = PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=query.get("host", [url.hostname or "localhost"])[0],
        port=url.port or 5432,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        pool_size=pool_size,
    )
    recorder = PostgresApplicationRecorder(datastore, events_table_name="eventsourcing_stored_events")
    if create_table:
        recorder.create_table()
    return recorder


def run(params: Params) -> dict[str, Any]:
    seconds, batched_seconds = params.get("seconds", 4.0), params.get("batched_seconds", 3.0)
    threads, batched_threads = params.get("threads", [1, 4, 16]), params.get("batched_threads", [1, 4])
    size, processes = params.get("batch_size", 100), params.get("processes", 2)
    peer_recorder(1, create_table=True).datastore.close()
    pool = max(*threads, *batched_threads)
    recorders = _PerProcess(lambda: peer_recorder(pool), lambda recorder: recorder.datastore.close())

    def before_fork() -> None:
        connections.close_all()
        recorders.reset()

    def rate(writers: int, duration: float, make: MakeWorker) -> dict[str, Any]:
        return measure(writers, duration, make, processes=processes, before_fork=before_fork).as_dict()

    result: dict[str, Any] = {"single": {}, "batched": {}, "batch_size": size}
    for n in threads:
        committers, tag = _PerProcess(GroupCommitter, GroupCommitter.close), f"group-commit-{n}"
        group = rate(n, seconds, group_writer(committers, tag))
        committers.reset()  # stops this process's committer thread, if it ran here
        group["events_per_transaction"] = _events_per_transaction(tag)
        result["single"][str(n)] = {
            "raw": rate(n, seconds, raw_writer),
            "store": rate(n, seconds, store_writer),
            "eventsourcing": rate(n, seconds, peer_writer(recorders)),
            "group_commit": group,
        }
    for n in batched_threads:
        result["batched"][str(n)] = {
            "raw": rate(n, batched_seconds, batched_raw_writer(size)),
            "store": rate(n, batched_seconds, batched_store_writer(size)),
            "eventsourcing": rate(n, batched_seconds, peer_writer(recorders, batch=size)),
        }
    return result


def _events_per_transaction(tag: str) -> float:
    """How many appends shared each commit, as the log itself records it (one transaction id each)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*)::float / greatest(count(DISTINCT transaction_id), 1) FROM event_log"
            " WHERE metadata->>'command' = %s",
            [tag],
        )
        (ratio,) = cursor.fetchone()
    connection.close()  # writers are forked next: they must not inherit this connection
    return float(ratio)
