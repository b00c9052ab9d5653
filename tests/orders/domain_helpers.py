"""Given-when-then helpers for the order aggregate, in the style of Commanded's ``assert_events``.

``given(*events)`` folds a history into an ``Order``; ``assert_events(history, command, expected)`` decides
the command and compares the new events exactly; ``assert_rejected`` checks the error and its details.
Both also check that ``decide`` left the order untouched: deciding only *proposes* events.

Plain Python: no database, no Django.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from config.errors import ApplicationError, IncompleteOrder, InvalidTransition, NotFound, ValidationError
from orders import commands as c
from orders import events as e
from orders.aggregate import CustomerInfo, DecisionContext, Order, ProductInfo, replay
from tests.addresses import ADDRESS

ORDER_ID = UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # when every event of a ``given`` history happened
NOW = T0 + timedelta(minutes=1)  # when the command is decided, unless a test says otherwise

CUSTOMER = CustomerInfo(id=7, name="Ada Lovelace", email="ada@example.com")
BOOK = ProductInfo(sku="BOOK", name="Book", unit_price=1250, active=True)
MUG = ProductInfo(sku="MUG", name="Mug", unit_price=800, active=True)
RETIRED = ProductInfo(sku="RETIRED", name="Retired", unit_price=500, active=False)
PRODUCTS = {p.sku: p for p in (BOOK, MUG, RETIRED)}


# --- Building blocks of histories ------------------------------------------------------------------

CREATED = e.OrderCreated(
    number="ORD-000001",
    customer_id=7,
    customer_name="Ada Lovelace",
    customer_email="ada@example.com",
    currency="USD",
)
BOOKS_ADDED = e.OrderLineAdded(sku="BOOK", name="Book", unit_price=1250, quantity=2)  # 25.00
MUG_ADDED = e.OrderLineAdded(sku="MUG", name="Mug", unit_price=800, quantity=1)  # 8.00
ADDRESS_SET = e.ShippingAddressSet(address=ADDRESS)
TOTAL = 3300
PLACED = e.OrderPlaced(lines={"BOOK": 2, "MUG": 1}, subtotal=TOTAL, total=TOTAL, currency="USD")
PAID_IN_FULL = e.PaymentRecorded(amount=TOTAL, reference="pay-1")
ALL_SHIPPED = e.ShipmentDispatched(
    shipment_id=1, lines={"BOOK": 2, "MUG": 1}, carrier="DHL", tracking_number="TRACK-1"
)
PLACED_STOCK = {"BOOK": 2, "MUG": 1}

# --- Histories by state ----------------------------------------------------------------------------

EMPTY_DRAFT = (CREATED,)
DRAFT = (CREATED, BOOKS_ADDED, MUG_ADDED, ADDRESS_SET)  # ready to place
PLACED_UNPAID = (*DRAFT, PLACED)
PARTIALLY_PAID = (*PLACED_UNPAID, e.PaymentRecorded(amount=1000, reference="pay-1"))
PAID = (*PLACED_UNPAID, PAID_IN_FULL)
SHIPPED = (*PAID, ALL_SHIPPED)
COMPLETED = (*SHIPPED, e.ShipmentDelivered(shipment_id=1), e.OrderCompleted())
CANCELLED = (*DRAFT, e.OrderCancelled(reason="changed my mind", released_stock={}))
EXPIRED = (*PLACED_UNPAID, e.OrderExpired(released_stock=PLACED_STOCK))

# Every status a command may find an order in, for "only allowed when ..." tables.
BY_STATUS: dict[str, tuple[e.Event, ...]] = {
    "draft": DRAFT,
    "placed": PLACED_UNPAID,
    "completed": COMPLETED,
    "cancelled": CANCELLED,
    "expired": EXPIRED,
}


def histories(*statuses: str) -> list[Any]:
    """``pytest.param`` per status, for parametrizing over the histories in ``BY_STATUS``."""
    return [pytest.param(BY_STATUS[status], status, id=status) for status in statuses]


# --- Given / when / then ---------------------------------------------------------------------------


def context(**overrides: Any) -> DecisionContext:
    values: dict[str, Any] = {
        "now": NOW,
        "products": PRODUCTS,
        "customer": CUSTOMER,
        "order_number": "ORD-000001",
    }
    return DecisionContext(**(values | overrides))


def given(*events: e.Event) -> Order:
    """The order as folded from ``events`` (versions 1..n, all at ``T0``)."""
    return replay(ORDER_ID, [(event, version, T0) for version, event in enumerate(events, start=1)])


def fold(order: Order, events: Iterable[e.Event], *, at: datetime = NOW) -> Order:
    """A copy of ``order`` with ``events`` applied after it."""
    folded = copy.deepcopy(order)
    for event in events:
        folded.apply(event, version=folded.version + 1, at=at)
    return folded


def decide(
    history: Sequence[e.Event], command: c.Command, ctx: DecisionContext | None = None
) -> list[e.Event]:
    """Decide ``command`` on the order folded from ``history``; fail if deciding changed the order."""
    order = given(*history)
    before = copy.deepcopy(order)
    new_events = order.decide(command, ctx or context())
    assert order == before, "decide() must not change the order"
    return new_events


def assert_events(
    history: Sequence[e.Event],
    command: c.Command,
    expected: list[e.Event],
    ctx: DecisionContext | None = None,
) -> Order:
    """``command`` on ``history`` decides exactly ``expected``; returns the order with them folded in."""
    new_events = decide(history, command, ctx)
    assert new_events == expected
    return fold(given(*history), new_events)


ERROR_CODES: dict[type[ApplicationError], str] = {
    ValidationError: "validation_error",
    InvalidTransition: "invalid_transition",
    IncompleteOrder: "order_incomplete",
    NotFound: "not_found",
}


def assert_rejected(
    history: Sequence[e.Event],
    command: c.Command,
    error: type[ApplicationError],
    *,
    details: set[str] | None = None,
    ctx: DecisionContext | None = None,
) -> ApplicationError:
    """``command`` on ``history`` raises ``error`` (with that code and, if given, exactly those details
    keys), and the order is left as it was. Returns the error for further checks."""
    order = given(*history)
    before = copy.deepcopy(order)
    with pytest.raises(error) as raised:
        order.decide(command, ctx or context())
    assert type(raised.value) is error
    assert raised.value.code == ERROR_CODES[error]
    if details is not None:
        assert set(raised.value.details) == details
    assert order == before, "a rejected command must not change the order"
    return raised.value
