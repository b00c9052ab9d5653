"""Helpers for read-side tests: drive realistic command traffic, dump and check the read tables."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import psycopg
from django.db import connection, transaction

from accounts.roles import Role
from config.errors import ApplicationError
from orders import commands as c
from orders import store
from orders.aggregate import Order, replay
from orders.handlers import dispatch
from orders.models import StoredEvent
from projections.models import CustomerOrder, CustomerStats, DailySales, OrderSummary, ProjectionCheckpoint
from tests.addresses import ADDRESS
from tests.conftest import run_in_threads

READ_MODELS = (OrderSummary, DailySales, CustomerStats, CustomerOrder)


def order_lifecycle(rng: random.Random, *, customer: Any, staff: Any, skus: list[str]) -> UUID:
    """One order through a random but valid path: some orders stay drafts, some are cancelled,
    paid in parts, refunded, shipped in parts and delivered."""
    order_id = uuid4()
    lines = {sku: rng.randint(1, 3) for sku in rng.sample(skus, rng.randint(1, min(3, len(skus))))}
    run = _runner(staff)
    dispatch(
        c.CreateOrder(order_id=order_id, customer_id=customer.pk, lines=lines, shipping_address=ADDRESS),
        actor=customer,
    )
    if rng.random() < 0.2:
        return order_id
    if rng.random() < 0.3:
        run(c.AddLine(order_id=order_id, sku=rng.choice(skus), quantity=1))
    run(c.AddNote(order_id=order_id, text=f"note {rng.randint(1, 999)}"))
    if not run(c.PlaceOrder(order_id=order_id)):
        return order_id
    order = _current(order_id)
    if rng.random() < 0.15:
        run(c.CancelOrder(order_id=order_id, reason="customer asked"))
        return order_id
    first = rng.randint(1, order.total)
    run(c.RecordPayment(order_id=order_id, amount=first, reference=f"P1-{order_id}"))
    if first < order.total:
        run(c.RecordPayment(order_id=order_id, amount=order.total - first, reference=f"P2-{order_id}"))
    if rng.random() < 0.2:
        run(c.IssueRefund(order_id=order_id, amount=rng.randint(1, order.total), reason="damaged"))
        return order_id
    order = _current(order_id)
    for sku, line in order.lines.items():
        run(
            c.ShipItems(
                order_id=order_id, lines={sku: line.quantity}, carrier="DHL", tracking_number=f"T-{sku}"
            )
        )
    if rng.random() < 0.7:
        for shipment_id in _current(order_id).shipments:
            run(c.MarkDelivered(order_id=order_id, shipment_id=shipment_id))
    return order_id


def _runner(staff: Any) -> Callable[[c.Command], bool]:
    def run(command: c.Command) -> bool:
        try:
            dispatch(command, actor=staff)
        except ApplicationError:
            return False
        return True

    return run


def _current(order_id: UUID) -> Order:
    return replay(order_id, [(r.event, r.version, r.recorded_at) for r in store.load(order_id)])


def dump_read_tables() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read table, in primary-key order, for exact comparison."""
    dumped = {}
    with connection.cursor() as cursor:
        for model in READ_MODELS:
            table, pk = model._meta.db_table, model._meta.pk.column
            cursor.execute(f"SELECT * FROM {table} ORDER BY {pk}")  # noqa: S608 - trusted model names
            dumped[table] = cursor.fetchall()
    return dumped


def assert_read_model_matches_write_side() -> None:
    """The read tables say what folding the event log with the write-side aggregate says."""
    streams = defaultdict(list)
    rows = [store.EventRow.of(stored) for stored in StoredEvent.objects.order_by("stream_id", "version")]
    for recorded in store.decode_rows(rows):
        streams[recorded.stream_id].append(recorded)
    summaries = OrderSummary.objects.in_bulk()
    assert set(summaries) == set(streams)
    placed_per_customer: Counter[int] = Counter()
    value_per_customer: Counter[int] = Counter()
    for order_id, history in streams.items():
        order = replay(order_id, [(r.event, r.version, r.recorded_at) for r in history])
        row = summaries[order_id]
        assert (row.status, row.payment_status, row.fulfillment_status) == (
            order.status,
            order.payment_status,
            order.fulfillment_status,
        ), order_id
        assert (row.total, row.amount_paid, row.amount_refunded, row.version) == (
            order.total,
            order.amount_paid,
            order.amount_refunded,
            order.version,
        ), order_id
        assert [(line["sku"], line["quantity"], line["shipped_quantity"]) for line in row.lines] == [
            (line.sku, line.quantity, line.shipped_quantity) for line in order.lines.values()
        ], order_id
        assert len(row.notes) == len(order.notes)
        if order.placed_at is not None:
            placed_per_customer[order.customer_id] += 1
        value_per_customer[order.customer_id] += order.amount_paid - order.amount_refunded
    stats = {s.customer_id: (s.orders_placed, s.lifetime_value) for s in CustomerStats.objects.all()}
    for customer_id, placed in placed_per_customer.items():
        assert stats[customer_id] == (placed, value_per_customer[customer_id])
    totals = [
        sum(getattr(d, f) for d in DailySales.objects.all()) for f in ("orders_placed", "gross", "refunds")
    ]
    placed_events = StoredEvent.objects.filter(event_type="OrderPlaced")
    refund_events = StoredEvent.objects.filter(event_type="RefundIssued")
    assert totals == [
        placed_events.count(),
        sum(p["total"] for p in placed_events.values_list("payload", flat=True)),
        sum(p["amount"] for p in refund_events.values_list("payload", flat=True)),
    ]


def staff_and_customers(make_user: Callable[..., Any], count: int) -> tuple[Any, list[Any]]:
    return make_user(Role.MANAGER), [make_user(Role.CUSTOMER) for _ in range(count)]


@contextmanager
def checkpoint_held_elsewhere(name: str) -> Iterator[None]:
    """While the block runs, another thread (and connection) holds the projection's checkpoint row."""
    locked, release = threading.Event(), threading.Event()

    def hold(_: int) -> None:
        with transaction.atomic():
            ProjectionCheckpoint.objects.select_for_update().get(name=name)
            locked.set()
            assert release.wait(10)

    holder = threading.Thread(target=lambda: run_in_threads(hold, 1))
    holder.start()
    assert locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def other_database_params(database: str = "postgres", *, application_name: str = "test") -> dict[str, Any]:
    """psycopg connection parameters for another database of the test database's server."""
    params = {**connection.get_connection_params(), "dbname": database, "application_name": application_name}
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    return params


@contextmanager
def writing_transaction_elsewhere(
    *, database: str = "postgres", application_name: str = "held-open-by-test", idle_timeout: float = 0
) -> Iterator[int]:
    """While the block runs, a session in another database of the same server holds a transaction that
    has written (it has a transaction id), idle: it holds the read side's horizon for the whole server.
    Yields the session's pid. ``idle_timeout`` > 0 lets the server end the session after that long."""
    params = other_database_params(database, application_name=application_name)
    holder = psycopg.connect(**params, autocommit=True)  # BEGIN below is the only transaction
    try:
        with holder.cursor() as cursor:
            timeout_ms = int(idle_timeout * 1000)
            cursor.execute(f"SET idle_in_transaction_session_timeout = {timeout_ms}")
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_current_xact_id()")  # takes a transaction id, as a write would
        yield pid
    finally:
        with contextlib.suppress(psycopg.Error):  # the server may have ended it already (idle_timeout)
            holder.execute("ROLLBACK")
        holder.close()
