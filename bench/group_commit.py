"""Group commit: many appends in one transaction, each isolated by a savepoint (a benchmark only).

The platform does not use it: the command bus commits each command in its own transaction. It is
kept here to measure SPEC §9's group-commit row against a plain append.

A commit costs a WAL flush; sixteen writers that each commit one event pay sixteen flushes. Here
concurrent writers hand their appends to a committer thread: it runs every waiting append in one
transaction, each isolated by a savepoint (see ``append_many``), commits once, and gives each writer its
own outcome. An append that conflicts (or fails otherwise) fails alone; the others commit. Nobody is
told "committed" before the commit has happened.

Optimistic concurrency is unchanged: each append is ``store.append`` with its ``expected_version``.
Two appends to one stream in one group see each other (one transaction), so the second one may
follow the first; if the first fails, the second fails too, as it would have one after the other.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import connection, connections, transaction
from django.db.transaction import TransactionManagementError

from orders import store
from orders.events import Event

Outcome = list[store.RecordedEvent] | Exception


@dataclass(frozen=True)
class AppendRequest:
    stream_id: UUID
    expected_version: int
    events: Sequence[Event]
    metadata: dict[str, Any] = field(default_factory=dict)


def append_many(requests: Sequence[AppendRequest]) -> list[Outcome]:
    """Run ``requests`` in one transaction, each isolated; its events, or the exception it raised.

    If the commit itself fails, every request failed: that exception is raised, nothing is returned.
    Must not be called inside a transaction, which would make the appends part of the caller's.

    Usually no append fails, and a savepoint costs two more round trips per append (SAVEPOINT and
    RELEASE) plus a subtransaction. So the group first runs without them; only if an append fails
    (which rolls back everything, so nobody was told anything yet) does it run again with a savepoint
    around each append, and then the failing one fails alone.
    """
    if connection.in_atomic_block:
        raise RuntimeError("append_many commits its own transaction; call it outside transaction.atomic()")
    if len(requests) > 1:
        # If one of them fails, everything is rolled back (and nobody told): isolate it below.
        with contextlib.suppress(Exception), transaction.atomic():
            return [_append(request) for request in requests]
    return _isolated(requests)


def _isolated(requests: Sequence[AppendRequest]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with transaction.atomic():
        for request in requests:
            try:
                with transaction.atomic():  # the savepoint that keeps a failure to this append
                    outcomes.append(_append(request))
            except Exception as exc:  # handed to that request's writer, who decides what it means
                outcomes.append(exc)
        if transaction.get_rollback():
            # A savepoint could not be rolled back (the connection broke): Django would now roll the
            # whole transaction back without a word, and the "successful" appends with it.
            raise TransactionManagementError("the group's transaction broke; nothing was committed")
    return outcomes


def _append(request: AppendRequest) -> list[store.RecordedEvent]:
    return store.append(
        request.stream_id, request.expected_version, request.events, metadata=request.metadata
    )


@dataclass
class _Slot:
    request: AppendRequest
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None


class GroupCommitter:
    """Share commits between threads: ``append`` blocks until the group holding the request committed.

    A committer thread (started on first use, with its own database connection) takes everything
    queued, commits it as one group, and starts over: while one group commits the next one queues up,
    so groups grow with the number of waiting writers and no writer waits for a timer. ``max_group``
    bounds how long one transaction holds its row locks (and its subtransactions: PostgreSQL keeps 64
    per transaction in shared memory before snapshots get slower). ``close()`` stops the thread.
    """

    def __init__(self, *, max_group: int = 32) -> None:
        self.max_group = max_group
        self._queue: list[_Slot] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.groups = 0  # transactions committed (or attempted), for the bench and tests

    def append(self, request: AppendRequest) -> list[store.RecordedEvent]:
        """Like ``store.append`` in a transaction of its own, but sharing the commit with others."""
        slot = _Slot(request)
        with self._wake:
            if self._closed:
                raise RuntimeError("this GroupCommitter is closed")
            self._queue.append(slot)
            if self._thread is None:
                self._thread = threading.Thread(target=self._commit_groups, name="group-commit", daemon=True)
                self._thread.start()
            self._wake.notify()
        slot.done.wait()
        if isinstance(slot.outcome, Exception):
            raise slot.outcome
        assert slot.outcome is not None  # noqa: S101  # nosec B101  # done implies an outcome
        return slot.outcome

    def close(self) -> None:
        """Commit what is queued, then stop the committer thread (and close its connection)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _commit_groups(self) -> None:
        try:
            while True:
                with self._wake:
                    while not self._queue and not self._closed:
                        self._wake.wait()
                    if not self._queue:
                        return
                    group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
                self._commit(group)
        finally:
            connections.close_all()  # this thread's connection

    def _commit(self, group: list[_Slot]) -> None:
        self.groups += 1
        try:
            outcomes: list[Outcome] = append_many([slot.request for slot in group])
        except Exception as exc:  # the commit failed: so did every append in the group
            outcomes = [exc] * len(group)
        for slot, outcome in zip(group, outcomes, strict=True):
            slot.outcome = outcome
            slot.done.set()
