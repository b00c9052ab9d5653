"""Backups hold what they claim while other transactions stay open on the server.

A full backup holds every event its snapshot sees and the reference data of the same snapshot; an
incremental holds exactly what the previous archive's snapshot did not see; ``/readyz`` reports the age
of the oldest committed event no archive holds; ``restore --until`` keeps transactions whole. Writers
held open elsewhere are released in ``finally`` blocks (the helpers), every wait is bounded.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db import connection, transaction

from accounts.roles import Role
from orders import commands as c
from orders import events as e
from orders import store
from orders.handlers import dispatch
from orders.models import Product
from recovery.backup import BackupResult, take_backup
from recovery.readiness import check_backups
from recovery.restore import restore
from tests.addresses import ADDRESS
from tests.conftest import run_in_threads
from tests.recovery.conftest import archived_events, on_database, table_rows, writing_transaction_open

pytestmark = pytest.mark.django_db(transaction=True)


def append_notes(count: int) -> list[UUID]:
    """``count`` events, each committed in a transaction of its own, on streams of their own."""
    streams = [uuid4() for _ in range(count)]
    for stream in streams:
        store.append(stream, 0, [e.OrderNoteAdded(note_id=1, text="note")])
    return streams


def events_visible_in(snapshot: str) -> list[tuple[Any, ...]]:
    """The live log as the given snapshot saw it (what a restore of its chain must give back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM event_log WHERE pg_visible_in_snapshot(transaction_id, %s::pg_snapshot)"
            " ORDER BY position",
            [snapshot],
        )
        return cursor.fetchall()


def restored_events(database: str, paths: list[Path], **kwargs: Any) -> list[tuple[Any, ...]]:
    with on_database(database):
        restore(paths, rebuild_projections=False, **kwargs)
        return table_rows("event_log", "position")


@contextmanager
def transaction_held_open_with(stream: UUID) -> Iterator[threading.Event]:
    """A writing transaction in this database that appended to ``stream`` and waits; set the yielded
    event to let it commit. Committed (or abandoned) at the end of the block whatever happens."""
    appended, may_commit, outcome = threading.Event(), threading.Event(), []

    def hold(_: int) -> None:
        with transaction.atomic():
            store.append(stream, 0, [e.OrderNoteAdded(note_id=1, text="long")])
            appended.set()
            if not may_commit.wait(30):
                raise TimeoutError("never told to commit")

    holder = threading.Thread(target=lambda: outcome.extend(run_in_threads(hold, 1)))
    holder.start()
    try:
        assert appended.wait(10), "the long transaction never appended"
        yield may_commit
    finally:
        may_commit.set()
        holder.join(30)
    assert outcome == [None], outcome


def test_a_writer_open_in_another_database_keeps_no_committed_event_out_of_a_backup(
    populated: Callable[[int], None],
) -> None:
    populated(1)
    with writing_transaction_open("postgres"):
        streams = append_notes(15)
        full = take_backup()
        more = append_notes(5)
        incremental = take_backup(incremental=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM event_log")
        (committed,) = cursor.fetchone()

    assert full.manifest["events"]["count"] + incremental.manifest["events"]["count"] == committed
    assert set(streams) <= {row.stream_id for row in archived_events(full.path)}
    assert {row.stream_id for row in archived_events(incremental.path)} == set(more)
    assert (
        full.manifest["snapshot"]
        and incremental.manifest["previous"]["snapshot"] == full.manifest["snapshot"]
    )


def test_an_incremental_chain_restores_every_event_of_its_last_snapshot_once_around_a_long_transaction(
    populated: Callable[[int], None], scratch_db: str
) -> None:
    """A transaction appends first (lower position), stays open across a full backup and an incremental,
    commits in the middle of the chain; a writer in another database stays open throughout."""
    populated(1)
    long_stream = uuid4()
    with writing_transaction_open("postgres"):
        with transaction_held_open_with(long_stream) as may_commit:
            append_notes(3)
            full = take_backup()
            append_notes(2)
            first = take_backup(incremental=True)
            may_commit.set()
        append_notes(2)
        second = take_backup(incremental=True)
        append_notes(1)  # after the last snapshot: no archive holds it, the restore must not either
        live = events_visible_in(second.manifest["snapshot"])

    in_archives = [{row.stream_id for row in archived_events(b.path)} for b in (full, first, second)]
    assert long_stream not in in_archives[0] | in_archives[1] and long_stream in in_archives[2]
    assert sum(b.manifest["events"]["count"] for b in (full, first, second)) == len(live)
    assert restored_events(scratch_db, [full.path, first.path, second.path]) == live


def test_placements_and_cancellations_in_flight_during_a_full_backup_restore_with_consistent_stock(
    make_user: Callable[..., Any], make_product: Callable[..., Product], scratch_db: str
) -> None:
    initial = 500
    customer = make_user(Role.CUSTOMER)
    skus = [make_product(stock=initial).sku for _ in range(3)]
    to_place = [_draft(customer, {skus[i % 3]: 2, skus[(i + 1) % 3]: 3}) for i in range(24)]
    to_cancel = [_draft(customer, {skus[i % 3]: 4}) for i in range(8)]
    for order_id in to_cancel:
        dispatch(c.PlaceOrder(order_id=order_id), actor=customer)

    backups: list[BackupResult] = []
    writing = threading.Event()

    def work(i: int) -> None:
        if i == 0:
            assert writing.wait(10)  # take the snapshot among the writers, not before them
            backups.append(take_backup())
            return
        for order_id in to_place[i - 1 :: 4]:
            dispatch(c.PlaceOrder(order_id=order_id), actor=customer)
            writing.set()
        for order_id in to_cancel[i - 1 :: 4]:
            dispatch(c.CancelOrder(order_id=order_id, reason="changed mind"), actor=customer)

    with writing_transaction_open("postgres"):
        assert run_in_threads(work, 5) == [None] * 5
    (backup,) = backups

    with on_database(scratch_db):
        restore([backup.path], rebuild_projections=False)
        restored_stock = dict(Product.objects.values_list("sku", "stock_on_hand"))
        held = _units_held_by_open_orders()
    assert backup.manifest["events"]["count"] > 0
    for sku in skus:
        assert restored_stock[sku] + held[sku] == initial, (sku, restored_stock[sku], held[sku])


def _draft(customer: Any, lines: dict[str, int]) -> UUID:
    order_id = uuid4()
    dispatch(
        c.CreateOrder(order_id=order_id, customer_id=customer.pk, lines=lines, shipping_address=ADDRESS),
        actor=customer,
    )
    return order_id


def _units_held_by_open_orders() -> Counter[str]:
    """What the events say is reserved: every placement's lines minus what cancellations and expiries
    released."""
    held: Counter[str] = Counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_type, payload FROM event_log"
            " WHERE event_type IN ('OrderPlaced', 'OrderCancelled', 'OrderExpired')"
        )
        for event_type, payload in cursor.fetchall():
            data = json.loads(payload) if isinstance(payload, str) else payload
            if event_type == "OrderPlaced":
                held.update(data["lines"])
            else:
                held.subtract(data["released_stock"])
    return held


def test_restore_until_an_event_in_the_middle_of_a_command_restores_the_whole_command(
    populated: Callable[[int], None], scratch_db: str
) -> None:
    populated(1)
    stream = uuid4()
    recorded = store.append(stream, 0, [e.OrderNoteAdded(note_id=n, text=f"part {n}") for n in (1, 2, 3)])
    append_notes(2)
    backup = take_backup()
    middle = recorded[1]

    with on_database(scratch_db):
        report = restore(
            [backup.path], until=(middle.transaction_id, middle.position), rebuild_projections=False
        )
        kept = table_rows("event_log", "position")
    versions = sorted(row[2] for row in kept if row[1] == stream)  # (position, stream_id, version, ...)
    assert versions == [1, 2, 3]
    assert report.last == [recorded[-1].transaction_id, recorded[-1].position]
    assert max(int(row[-1]) for row in kept) == middle.transaction_id  # nothing of a later transaction


def test_readiness_reports_the_age_of_the_oldest_committed_event_that_no_archive_holds(
    settings: Any, populated: Callable[[int], None]
) -> None:
    settings.READINESS_REQUIRE_WORKER = False
    settings.BACKUP_RPO_TARGET = 1.5
    populated(1)
    with writing_transaction_open("postgres"):
        take_backup()
        covered = check_backups(budget=2.0)
        assert covered["status"] == "ok" and covered["rpo_seconds"] == 0 and covered["uncovered_events"] == 0

        append_notes(3)
        deadline = time.monotonic() + 10
        while (result := check_backups(budget=2.0))["status"] == "ok":
            assert time.monotonic() < deadline, result
            time.sleep(0.1)
        assert result["uncovered_events"] == 3 and result["rpo_seconds"] >= 1.5
        assert result["oldest_uncovered_event_at"] < result["newest_uncovered_event_at"]
        assert "not in any backup" in result["problems"][0]

        take_backup(incremental=True)
        assert check_backups(budget=2.0)["rpo_seconds"] == 0


def test_an_idle_log_fully_covered_by_an_old_backup_has_nothing_at_risk(
    settings: Any, populated: Callable[[int], None]
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from recovery.models import BackupRecord

    settings.READINESS_REQUIRE_WORKER = False
    populated(1)
    take_backup()
    BackupRecord.objects.update(created_at=timezone.now() - timedelta(hours=2))
    result = check_backups(budget=2.0)
    assert result["status"] == "ok" and result["rpo_seconds"] == 0
    assert result["newest_backup_age_seconds"] > 7000
