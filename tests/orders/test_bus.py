"""The command bus against real PostgreSQL: permissions, atomicity, stock, concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import transaction

from accounts.roles import SYSTEM, Role
from config.errors import (
    ConcurrencyConflict,
    InsufficientStock,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from config.errors import ValidationError as DomainValidationError
from orders import commands as c
from orders import events as e
from orders import store
from orders.handlers import UnknownCommand, dispatch, dispatch_idempotent
from orders.models import Product, StoredEvent
from orders.signals import events_committed
from tests.addresses import ADDRESS
from tests.clock import FakeDateTimeClock
from tests.conftest import run_in_threads

pytestmark = pytest.mark.django_db


def snapshot() -> tuple[int, list[tuple[str, int]]]:
    """Everything a command could have written: the event count and every product's stock."""
    return StoredEvent.objects.count(), list(Product.objects.values_list("sku", "stock_on_hand"))


def test_an_order_goes_from_creation_to_completion(
    customer: Any, make_user: Callable[..., Any], make_product: Callable[..., Product]
) -> None:
    finance, fulfillment = make_user(Role.FINANCE), make_user(Role.FULFILLMENT)
    mug = make_product("MUG", price=1250, stock=10)
    order_id = uuid4()

    created = dispatch(c.CreateOrder(order_id=order_id, customer_id=customer.pk), actor=customer)
    dispatch(c.AddLine(order_id=order_id, sku="MUG", quantity=2), actor=customer)
    dispatch(c.SetShippingAddress(order_id=order_id, address=ADDRESS), actor=customer)
    dispatch(c.PlaceOrder(order_id=order_id), actor=customer)
    dispatch(c.RecordPayment(order_id=order_id, amount=2500, reference="PAY-1"), actor=finance)
    shipped = dispatch(
        c.ShipItems(order_id=order_id, lines={"MUG": 2}, carrier="DHL", tracking_number="T1"),
        actor=fulfillment,
    )
    done = dispatch(c.MarkDelivered(order_id=order_id, shipment_id=1), actor=fulfillment)

    assert created.order.number.startswith("ORD-")
    assert shipped.order.fulfillment_status == "shipped"
    assert (done.order.status, done.order.payment_status, done.order.fulfillment_status) == (
        "completed",
        "paid",
        "delivered",
    )
    assert [r.event.type for r in store.load(order_id)] == [
        "OrderCreated",
        "OrderLineAdded",
        "ShippingAddressSet",
        "OrderPlaced",
        "PaymentRecorded",
        "ShipmentDispatched",
        "ShipmentDelivered",
        "OrderCompleted",
    ]
    mug.refresh_from_db()
    assert mug.stock_on_hand == 8
    last = store.load(order_id)[-1]
    assert last.metadata["actor"] == f"user:{fulfillment.pk}"
    assert last.metadata["command"] == "MarkDelivered"
    assert done.position == last.position


def test_create_order_with_lines_and_address_is_one_transaction(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    make_product("A", price=500)
    order_id = uuid4()
    result = dispatch(
        c.CreateOrder(order_id=order_id, customer_id=customer.pk, lines={"A": 3}, shipping_address=ADDRESS),
        actor=customer,
    )
    assert result.order.total == 1500
    assert result.order.version == 3
    assert len({r.transaction_id for r in result.events}) == 1


@pytest.mark.parametrize(
    ("make_command", "error"),
    [
        (lambda oid: c.AddLine(order_id=oid, sku="A", quantity=1), InvalidTransition),
        (lambda oid: c.AddLine(order_id=oid, sku="A", quantity=0), DomainValidationError),
        (lambda oid: c.RecordPayment(order_id=oid, amount=10**9, reference="X"), PermissionDenied),
        (lambda oid: c.CancelOrder(order_id=oid, reason=""), DomainValidationError),
        (lambda oid: c.PlaceOrder(order_id=oid), InvalidTransition),
        (lambda oid: c.ExpireOrder(order_id=oid), PermissionDenied),
    ],
)
def test_a_rejected_command_writes_nothing(
    customer: Any,
    make_product: Callable[..., Product],
    placed_order: Callable[..., Any],
    make_command: Callable[..., Any],
    error: type[Exception],
) -> None:
    make_product("A", stock=5)
    order_id = placed_order({"A": 2})
    before = snapshot()
    with pytest.raises(error):
        dispatch(make_command(order_id), actor=customer)
    assert snapshot() == before


def test_insufficient_stock_rejects_the_placement_and_reserves_nothing(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    make_product("A", stock=5)
    make_product("B", stock=1)
    order_id = uuid4()
    dispatch(
        c.CreateOrder(
            order_id=order_id, customer_id=customer.pk, lines={"A": 2, "B": 2}, shipping_address=ADDRESS
        ),
        actor=customer,
    )
    before = snapshot()
    with pytest.raises(InsufficientStock) as caught:
        dispatch(c.PlaceOrder(order_id=order_id), actor=customer)
    assert caught.value.details == {"lines": ["B: not enough stock"]}
    assert snapshot() == before


def test_cancelling_a_placed_paid_order_releases_stock_and_refunds(
    customer: Any, manager: Any, make_product: Callable[..., Product], placed_order: Callable[..., Any]
) -> None:
    product = make_product("A", price=1000, stock=10)
    order_id = placed_order({"A": 3})
    dispatch(c.RecordPayment(order_id=order_id, amount=1000, reference="P1"), actor=manager)
    product.refresh_from_db()
    assert product.stock_on_hand == 7

    result = dispatch(c.CancelOrder(order_id=order_id, reason="changed mind"), actor=manager)

    product.refresh_from_db()
    assert product.stock_on_hand == 10
    assert [r.event.type for r in result.events] == ["OrderCancelled", "RefundIssued"]
    assert (result.order.status, result.order.payment_status, result.order.amount_refunded) == (
        "cancelled",
        "refunded",
        1000,
    )


def test_the_system_expires_an_unpaid_order_and_releases_its_stock(
    customer: Any,
    make_product: Callable[..., Product],
    placed_order: Callable[..., Any],
    bus_clock: FakeDateTimeClock,
) -> None:
    product = make_product("A", stock=4)
    order_id = placed_order({"A": 4})
    bus_clock.now = store.load(order_id)[-1].recorded_at + timedelta(minutes=30)
    with pytest.raises(InvalidTransition):
        dispatch(c.ExpireOrder(order_id=order_id), actor=SYSTEM)
    bus_clock.advance(timedelta(seconds=1))
    result = dispatch(c.ExpireOrder(order_id=order_id), actor=SYSTEM)
    assert result.order.status == "expired"
    assert store.load(order_id)[-1].metadata["actor"] == "system"
    product.refresh_from_db()
    assert product.stock_on_hand == 4


def test_an_order_the_actor_may_not_see_is_not_found(
    make_user: Callable[..., Any], placed_order: Callable[..., Any]
) -> None:
    order_id = placed_order()
    stranger = make_user(Role.CUSTOMER)
    for command in (c.AddNote(order_id=order_id, text="hi"), c.CancelOrder(order_id=order_id, reason="x")):
        with pytest.raises(NotFound):
            dispatch(command, actor=stranger)
    with pytest.raises(NotFound):
        dispatch(c.PlaceOrder(order_id=uuid4()), actor=make_user(Role.MANAGER))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.CUSTOMER, False),
        (Role.SUPPORT, False),
        (Role.FULFILLMENT, False),
        (Role.FINANCE, True),
        (Role.MANAGER, True),
    ],
)
def test_only_finance_and_managers_record_payments(
    role: Role, allowed: bool, make_user: Callable[..., Any], customer: Any, placed_order: Callable[..., Any]
) -> None:
    order_id = placed_order()
    actor = customer if role is Role.CUSTOMER else make_user(role)
    command = c.RecordPayment(order_id=order_id, amount=100, reference="R")
    if allowed:
        assert dispatch(command, actor=actor).order.amount_paid == 100
    else:
        with pytest.raises(PermissionDenied):
            dispatch(command, actor=actor)


def test_a_customer_cancels_only_before_paying(
    customer: Any, manager: Any, placed_order: Callable[..., Any]
) -> None:
    paid = placed_order()
    dispatch(c.RecordPayment(order_id=paid, amount=1, reference="R"), actor=manager)
    with pytest.raises(PermissionDenied):
        dispatch(c.CancelOrder(order_id=paid, reason="no"), actor=customer)
    unpaid = placed_order()
    assert dispatch(c.CancelOrder(order_id=unpaid, reason="no"), actor=customer).order.status == "cancelled"


def test_customers_create_orders_only_for_themselves(customer: Any, make_user: Callable[..., Any]) -> None:
    other = make_user(Role.CUSTOMER)
    with pytest.raises(PermissionDenied):
        dispatch(c.CreateOrder(order_id=uuid4(), customer_id=other.pk), actor=customer)
    support = make_user(Role.SUPPORT)
    assert dispatch(
        c.CreateOrder(order_id=uuid4(), customer_id=other.pk), actor=support
    ).order.customer_id == (other.pk)
    with pytest.raises(DomainValidationError):
        dispatch(c.CreateOrder(order_id=uuid4(), customer_id=support.pk), actor=support)


def test_an_unregistered_command_type_is_a_clear_error(customer: Any) -> None:
    @dataclass(frozen=True, kw_only=True)
    class Teleport(c.OrderCommand):
        pass

    with pytest.raises(UnknownCommand, match="Teleport"):
        dispatch(Teleport(order_id=uuid4()), actor=customer)


class Remembering:
    """An idempotency step that remembers in memory, or fails at ``remember`` when told to."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail, self.remembered, self.claims = fail, None, 0

    def claim(self) -> Any:
        self.claims += 1
        return self.remembered

    def remember(self, result: Any) -> Any:
        assert result.events  # after the append
        if self.fail:
            raise RuntimeError("idempotency store unavailable")
        self.remembered = f"version {result.order.version}"
        return self.remembered


def test_the_idempotency_step_remembers_inside_the_transaction(
    customer: Any, placed_order: Callable[..., Any], manager: Any
) -> None:
    order_id = placed_order()
    before = snapshot()

    with pytest.raises(RuntimeError):
        dispatch_idempotent(
            c.AddNote(order_id=order_id, text="x"), actor=manager, idempotency=Remembering(fail=True)
        )
    assert snapshot() == before


def test_a_claimed_request_replays_what_was_remembered_and_writes_nothing(
    placed_order: Callable[..., Any], manager: Any
) -> None:
    order_id = placed_order()
    step = Remembering()

    first = dispatch_idempotent(c.AddNote(order_id=order_id, text="x"), actor=manager, idempotency=step)
    before = snapshot()
    again = dispatch_idempotent(c.AddNote(order_id=order_id, text="x"), actor=manager, idempotency=step)

    assert (first.value, first.replayed) == ("version 5", False)
    assert (again.value, again.replayed) == ("version 5", True)
    assert snapshot() == before
    assert step.claims == 2


@pytest.mark.django_db(transaction=True)
def test_events_committed_is_sent_after_commit_only(
    customer: Any, manager: Any, placed_order: Callable[..., Any]
) -> None:
    order_id = placed_order()
    received: list[list[Any]] = []

    def receiver(sender: Any, events: list[Any], **kwargs: Any) -> None:
        received.append(events)

    events_committed.connect(receiver)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            dispatch(c.AddNote(order_id=order_id, text="rolled back"), actor=manager)
            raise RuntimeError
        assert received == []
        dispatch(c.AddNote(order_id=order_id, text="kept"), actor=manager)
    finally:
        events_committed.disconnect(receiver)
    assert [[r.event for r in batch] for batch in received] == [[e.OrderNoteAdded(note_id=1, text="kept")]]


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_line_additions_all_land_through_retries(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    skus = [make_product(f"P{i:02d}").sku for i in range(16)]
    order_id = uuid4()
    dispatch(c.CreateOrder(order_id=order_id, customer_id=customer.pk), actor=customer)

    results = run_in_threads(
        lambda i: dispatch(c.AddLine(order_id=order_id, sku=skus[i], quantity=i + 1), actor=customer), 16
    )

    assert not [r for r in results if isinstance(r, BaseException)], results
    history = store.load(order_id)
    assert history[-1].version == 1 + 16
    assert sorted(r.event.sku for r in history[1:]) == skus
    assert {r.event.sku: r.event.quantity for r in history[1:]} == {sku: i + 1 for i, sku in enumerate(skus)}


@pytest.mark.django_db(transaction=True)
def test_twenty_placements_of_the_last_five_units_place_exactly_five(
    make_user: Callable[..., Any], make_product: Callable[..., Product]
) -> None:
    make_product("LAST", stock=5)
    buyers = [make_user(Role.CUSTOMER) for _ in range(20)]
    orders = []
    for buyer in buyers:
        order_id = uuid4()
        dispatch(
            c.CreateOrder(
                order_id=order_id, customer_id=buyer.pk, lines={"LAST": 1}, shipping_address=ADDRESS
            ),
            actor=buyer,
        )
        orders.append(order_id)

    results = run_in_threads(lambda i: dispatch(c.PlaceOrder(order_id=orders[i]), actor=buyers[i]), 20)

    placed = [r for r in results if not isinstance(r, BaseException)]
    rejected = [r for r in results if isinstance(r, BaseException)]
    assert len(placed) == 5
    assert len(rejected) == 15
    assert all(isinstance(r, InsufficientStock) for r in rejected), rejected
    assert Product.objects.get(sku="LAST").stock_on_hand == 0
    assert StoredEvent.objects.filter(event_type="OrderPlaced").count() == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("attempts", "outcome"), [(1, ConcurrencyConflict), (2, None)])
def test_a_lost_race_is_retried_a_bounded_number_of_times(
    customer: Any,
    make_product: Callable[..., Product],
    settings: Any,
    attempts: int,
    outcome: type[Exception] | None,
) -> None:
    """A rival transaction takes version 2 while the command is deciding on version 1."""
    settings.COMMAND_MAX_ATTEMPTS = attempts
    make_product("A")
    order_id = uuid4()
    dispatch(c.CreateOrder(order_id=order_id, customer_id=customer.pk), actor=customer)
    rival_appended = threading.Event()

    def race(i: int) -> Any:
        if i == 0:  # the rival: holds version 2 uncommitted for a moment
            with transaction.atomic():
                store.append(order_id, 1, [e.OrderNoteAdded(note_id=1, text="rival")])
                rival_appended.set()
                time.sleep(0.5)
            return "rival"
        assert rival_appended.wait(10)
        return dispatch(c.AddLine(order_id=order_id, sku="A", quantity=1), actor=customer)

    rival, result = run_in_threads(race, 2)

    assert rival == "rival"
    if outcome is None:
        assert result.order.version == 3
        assert [r.version for r in store.load(order_id)] == [1, 2, 3]
    else:
        assert isinstance(result, outcome)
        assert [r.version for r in store.load(order_id)] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_an_expected_version_that_lost_a_race_is_refused_not_retried(
    customer: Any, make_product: Callable[..., Product]
) -> None:
    """The caller showed version 1; a rival takes version 2 while the command decides on version 1. The
    retry's fresh load sees version 2 and refuses, instead of deciding again on a state nobody saw."""
    make_product("A")
    order_id = uuid4()
    dispatch(c.CreateOrder(order_id=order_id, customer_id=customer.pk), actor=customer)
    rival_appended = threading.Event()

    def race(i: int) -> Any:
        if i == 0:
            with transaction.atomic():
                store.append(order_id, 1, [e.OrderNoteAdded(note_id=1, text="rival")])
                rival_appended.set()
                time.sleep(0.5)
            return "rival"
        assert rival_appended.wait(10)
        return dispatch(c.AddLine(order_id=order_id, sku="A", quantity=1), actor=customer, expected_version=1)

    rival, result = run_in_threads(race, 2)

    assert rival == "rival"
    assert isinstance(result, StaleVersion)
    assert result.details == {"expected_version": 1, "version": 2}
    assert [r.version for r in store.load(order_id)] == [1, 2]


def test_an_expected_version_is_checked_only_after_the_permission(
    customer: Any, make_user: Callable[..., Any], placed_order: Callable[..., Any]
) -> None:
    """A stranger learns nothing from a version: the order is still not found for them."""
    order_id = placed_order()
    with pytest.raises(NotFound):
        dispatch(c.AddNote(order_id=order_id, text="hi"), actor=make_user(Role.CUSTOMER), expected_version=99)
    done = dispatch(
        c.AddNote(order_id=order_id, text="hi"), actor=make_user(Role.SUPPORT), expected_version=4
    )
    assert [recorded.event.type for recorded in done.events] == ["OrderNoteAdded"]
