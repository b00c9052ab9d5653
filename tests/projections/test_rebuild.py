"""Rebuilding read models from the log beside the live ones (real PostgreSQL, real threads)."""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.forms.models import model_to_dict

from orders import commands as c
from orders import events as e
from orders import store
from orders.handlers import dispatch
from orders.models import Product, StoredEvent
from projections import runner
from projections.models import DailySales, OrderSummary, ProjectionCheckpoint
from projections.projectors import PROJECTORS, DailySalesProjector, OrderSummaryProjector
from projections.rebuild import RebuildFailed, rebuild
from tests.conftest import run_in_threads
from tests.projections.workload import (
    READ_MODELS,
    assert_read_model_matches_write_side,
    dump_read_tables,
    order_lifecycle,
    staff_and_customers,
)

pytestmark = pytest.mark.django_db(transaction=True)


def index_names() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s)"
            " ORDER BY tablename, indexname",
            [[model._meta.db_table for model in READ_MODELS]],
        )
        names: dict[str, list[str]] = {}
        for table, index in cursor.fetchall():
            names.setdefault(table, []).append(index)
        return names


def test_a_rebuild_from_zero_equals_continuous_projection(
    make_user: Callable[..., Any], make_product: Callable[..., Product]
) -> None:
    staff, customers = staff_and_customers(make_user, 4)
    skus = [make_product(stock=100_000).sku for _ in range(5)]
    writers_done = threading.Event()

    def work(i: int) -> None:
        if i == 4:  # the live projection runs while the writers write
            while not writers_done.is_set():
                runner.catch_up_all(batch_size=50)
            return
        rng = random.Random(i)
        for _ in range(12):
            order_lifecycle(rng, customer=customers[i], staff=staff, skus=skus)

    threads_done = []

    def tracked(i: int) -> None:
        work(i)
        if i < 4:
            threads_done.append(i)
            if len(threads_done) == 4:
                writers_done.set()

    results = run_in_threads(tracked, 5, timeout=240)
    assert not [r for r in results if isinstance(r, BaseException)], results
    runner.catch_up_all()
    live, live_indexes = dump_read_tables(), index_names()
    assert sum(len(rows) for rows in live.values()) > 0

    for name in PROJECTORS:
        rebuild(name, batch_size=97)

    assert dump_read_tables() == live
    assert index_names() == live_indexes
    assert_read_model_matches_write_side()
    assert set(ProjectionCheckpoint.objects.values_list("state", flat=True)) == {"running"}


def test_reads_keep_working_and_new_events_are_caught_up_during_a_rebuild(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    make_product("A", stock=1000)
    orders = []
    for _ in range(30):
        order_id = uuid4()
        dispatch(c.CreateOrder(order_id=order_id, customer_id=customer.pk, lines={"A": 1}), actor=customer)
        orders.append(order_id)
    runner.catch_up_all()
    seen_during_rebuild: list[int] = []
    late_order = uuid4()

    def during_rebuild(count: int) -> None:
        # Readers see the live table while the copy is built; traffic goes on.
        seen_during_rebuild.append(OrderSummary.objects.count())
        assert ProjectionCheckpoint.objects.get(name="order_summary").state == "rebuilding"
        if len(seen_during_rebuild) == 1:
            run_in_threads(
                lambda i: dispatch(
                    c.CreateOrder(order_id=late_order, customer_id=customer.pk), actor=customer
                ),
                1,
            )

    result = rebuild("order_summary", batch_size=10, on_progress=during_rebuild)

    assert seen_during_rebuild[0] == 30
    assert result.events >= 61  # 30 creations + 30 lines + the late order
    assert OrderSummary.objects.filter(pk=late_order).exists()  # applied in the swap transaction
    assert runner.catch_up_all()["order_summary"] == (runner.Outcome.IDLE, 0)
    assert_read_model_matches_write_side()


def test_the_log_is_read_in_commit_order_when_transaction_ids_gain_a_digit() -> None:
    """Ids 8 to 11 sort as 10, 11, 8, 9 as text: read that way, a batch of two ends at 11, and 8 and 9
    would never be read. Rows with made-up ids, far below any running transaction, are safe to read."""
    placed = e.OrderPlaced(lines={"A": 1}, subtotal=100, total=100, currency="USD")
    with connection.cursor() as cursor:
        for transaction_id in (8, 9, 10, 11):
            cursor.execute(
                "INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata,"
                " transaction_id) VALUES (%s, 1, %s, %s, %s, '{}', %s::text::xid8)",
                [
                    uuid4(),
                    placed.type,
                    placed.schema_version,
                    json.dumps(placed.to_payload()),
                    str(transaction_id),
                ],
            )

    assert runner.catch_up(DailySalesProjector, batch_size=2) == (runner.Outcome.IDLE, 4)
    assert DailySales.objects.get().orders_placed == 4
    assert rebuild("daily_sales", batch_size=2).events == 4
    assert DailySales.objects.get().orders_placed == 4


def test_a_projected_row_holds_exactly_what_folding_the_order_in_memory_gives() -> None:
    """Rows are written as one JSON document per batch: awkward text and timestamps come back unchanged,
    projected live and rebuilt."""
    awkward = 'O\'Brien "Ø" \\ 😀\t\u2019\n'
    order_id = uuid4()
    store.append(
        order_id,
        0,
        [
            e.OrderCreated(
                number="A-1",
                customer_id=1,
                customer_name=awkward,
                customer_email="a@example.com",
                currency="EUR",
            ),
            e.OrderLineAdded(sku='S"1', name=awkward, unit_price=1999, quantity=3),
            e.ShippingAddressSet(address={"name": awkward, "line1": "1 Rue", "country": "FR"}),
            e.OrderPlaced(lines={'S"1': 3}, subtotal=5997, total=5997, currency="EUR"),
            e.PaymentRecorded(amount=1000, reference=awkward),
            e.OrderNoteAdded(note_id=1, text=awkward),
        ],
        metadata={"actor": awkward},
    )
    expected = model_to_dict(OrderSummaryProjector().fold(store.load(order_id)))

    runner.catch_up(OrderSummaryProjector)
    assert model_to_dict(OrderSummary.objects.get(pk=order_id)) == expected
    rebuild("order_summary")
    assert model_to_dict(OrderSummary.objects.get(pk=order_id)) == expected
    assert expected["customer_name"] == expected["notes"][0]["author"] == awkward


def test_a_failing_rebuild_leaves_the_live_read_model_alone(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    make_product("A")
    dispatch(c.CreateOrder(order_id=uuid4(), customer_id=customer.pk, lines={"A": 1}), actor=customer)
    runner.catch_up_all()
    before = dump_read_tables()
    store.append(uuid4(), 0, [e.ShipmentDelivered(shipment_id=1)])  # poison: an order never created

    with pytest.raises(RebuildFailed, match="unknown order"):
        rebuild("order_summary")

    assert dump_read_tables() == before
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%%'")
        assert cursor.fetchone()[0] == 0
    assert ProjectionCheckpoint.objects.get(name="order_summary").state == "running"


def test_the_rebuild_command_prints_json_and_progress_lines_off_a_terminal(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    make_product("A")
    dispatch(c.CreateOrder(order_id=uuid4(), customer_id=customer.pk, lines={"A": 1}), actor=customer)
    events = StoredEvent.objects.count()
    out, err = io.StringIO(), io.StringIO()

    call_command("rebuild_projection", "--all", "--json", stdout=out, stderr=err)

    results = json.loads(out.getvalue())
    assert [result["projection"] for result in results] == list(PROJECTORS)
    assert all(result["events"] == events and result["seconds"] >= 0 for result in results)
    assert err.getvalue().splitlines() == [f"{name}: {events}/{events} events (100%)" for name in PROJECTORS]


def test_the_rebuild_command_reports_speed_and_refuses_unknown_names(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    make_product("A")
    dispatch(c.CreateOrder(order_id=uuid4(), customer_id=customer.pk, lines={"A": 1}), actor=customer)
    out = io.StringIO()
    call_command("rebuild_projection", "--all", stdout=out, stderr=io.StringIO())
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == list(PROJECTORS)
    assert "events/s" in out.getvalue()
    with pytest.raises(CommandError, match="unknown projection"):
        call_command("rebuild_projection", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--all"):
        call_command("rebuild_projection", stdout=io.StringIO())
