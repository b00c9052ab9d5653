"""The event store against real PostgreSQL: append, load, optimistic concurrency, append-only."""

from __future__ import annotations

import threading
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from config.errors import ConcurrencyConflict
from orders import events as e
from orders import store
from orders.models import StoredEvent
from tests.conftest import run_in_threads

pytestmark = pytest.mark.django_db


def note(n: int) -> e.OrderNoteAdded:
    return e.OrderNoteAdded(note_id=n, text=f"note {n}")


def test_append_then_load_returns_the_events_in_order_with_their_envelope() -> None:
    stream = uuid4()
    metadata = {"actor": "user:1", "command_id": "c1", "correlation_id": "c1", "causation_id": "c1"}
    written = store.append(stream, 0, [note(1), note(2)], metadata=metadata)
    written += store.append(stream, 2, [note(3)], metadata=metadata)

    loaded = store.load(stream)

    assert [r.event for r in loaded] == [note(1), note(2), note(3)]
    assert [r.version for r in loaded] == [1, 2, 3]
    assert [r.position for r in loaded] == [r.position for r in written]
    assert loaded[0].position < loaded[1].position < loaded[2].position
    assert all(r.metadata == metadata for r in loaded)
    assert loaded[0].transaction_id == loaded[1].transaction_id > 0


def test_load_can_stop_at_a_past_version() -> None:
    stream = uuid4()
    store.append(stream, 0, [note(1), note(2), note(3)])
    assert [r.version for r in store.load(stream, up_to_version=2)] == [1, 2]


def test_appending_at_a_taken_version_is_a_conflict_and_writes_nothing() -> None:
    stream = uuid4()
    store.append(stream, 0, [note(1)])
    with pytest.raises(ConcurrencyConflict), transaction.atomic():
        store.append(stream, 0, [note(2), note(3)])
    assert [r.event for r in store.load(stream)] == [note(1)]


def test_appending_beyond_the_stream_end_is_a_conflict_not_a_hole() -> None:
    stream = uuid4()
    store.append(stream, 0, [note(1)])
    with pytest.raises(ConcurrencyConflict):
        store.append(stream, 5, [note(2)])
    with pytest.raises(ConcurrencyConflict):
        store.append(uuid4(), 1, [note(1)])
    assert len(store.load(stream)) == 1


def test_appends_to_several_streams_commit_together_or_not_at_all() -> None:
    first, second = uuid4(), uuid4()
    store.append(second, 0, [note(1)])
    with pytest.raises(ConcurrencyConflict), transaction.atomic():
        store.append(first, 0, [note(1)])
        store.append(second, 0, [note(2)])  # conflicts, so the first append is rolled back too
    assert store.load(first) == []


def test_old_schema_versions_are_upcast_on_load() -> None:
    stream = uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata)"
            " VALUES (%s, 1, 'OrderLineAdded', 1, %s, '{}')",
            [stream, '{"sku": "A", "name": "Mug", "price": 1250, "quantity": 2}'],
        )
    (loaded,) = store.load(stream)
    assert loaded.event == e.OrderLineAdded(sku="A", name="Mug", unit_price=1250, quantity=2)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE event_log SET payload = '{}' WHERE stream_id = %s",
        "DELETE FROM event_log WHERE stream_id = %s",
    ],
)
def test_the_database_refuses_to_change_or_delete_events(statement: str) -> None:
    stream = uuid4()
    store.append(stream, 0, [note(1)])
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [stream])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StoredEvent.objects.filter(stream_id=stream).delete()
    assert [r.event for r in store.load(stream)] == [note(1)]


@pytest.mark.django_db(transaction=True)
def test_sixteen_writers_at_the_same_version_exactly_one_wins_each_version() -> None:
    stream = uuid4()
    for version in range(5):

        def write(i: int, version: int = version) -> int:
            with transaction.atomic():
                store.append(stream, version, [note(100 * version + i)])
            return i

        results = run_in_threads(write, 16)
        winners = [r for r in results if isinstance(r, int)]
        losers = [r for r in results if not isinstance(r, int)]
        assert len(winners) == 1, results
        assert all(isinstance(r, ConcurrencyConflict) for r in losers)
        assert len(losers) == 15

    loaded = store.load(stream)
    assert [r.version for r in loaded] == [1, 2, 3, 4, 5]


@pytest.mark.django_db(transaction=True)
def test_writers_on_different_streams_do_not_wait_for_each_other() -> None:
    """An open appending transaction must not block another stream's append (no table lock)."""
    appended, release = threading.Event(), threading.Event()

    def slow_writer(i: int) -> None:
        if i == 0:
            with transaction.atomic():
                store.append(uuid4(), 0, [note(1)])
                appended.set()
                assert release.wait(10)
        else:
            assert appended.wait(10)
            with transaction.atomic():
                store.append(uuid4(), 0, [note(2)])
            release.set()  # reached only if this append did not wait for the open transaction

    results = run_in_threads(slow_writer, 2, timeout=20)
    assert results == [None, None]
    assert StoredEvent.objects.count() == 2


def prepared_statements() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {" ".join(statement.split()) for (statement,) in cursor.fetchall()}


def test_the_write_path_statements_are_prepared_once_per_connection() -> None:
    stream = uuid4()
    store.append(stream, 0, [note(1)])
    store.append(stream, 1, [note(2), note(3)])
    store.load(stream)

    statements = prepared_statements()

    assert any(s.startswith("INSERT INTO event_log") and "unnest" not in s for s in statements)
    assert any(s.startswith("INSERT INTO event_log") and "unnest" in s for s in statements)
    assert any(s.startswith("SELECT position, stream_id, version") for s in statements)


def test_without_prepared_statements_the_store_works_the_same() -> None:
    connection.ensure_connection()
    raw = connection.connection
    previous, raw.prepare_threshold = raw.prepare_threshold, None  # DB_PREPARED_STATEMENTS=false
    try:
        stream = uuid4()
        store.append(stream, 0, [note(1)])
        store.append(stream, 1, [note(2), note(3)])
        with pytest.raises(ConcurrencyConflict), transaction.atomic():
            store.append(stream, 5, [note(9)])
        loaded = store.load(stream)
        statements = prepared_statements()
    finally:
        raw.prepare_threshold = previous

    assert [r.event for r in loaded] == [note(1), note(2), note(3)]
    assert not any("event_log" in s for s in statements)
