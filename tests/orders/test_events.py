"""Event types and the order's dispatch by type: explicit names, found complete at start-up (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from orders import commands as c
from orders import events as e
from orders.aggregate import DecisionContext, Order, unfolded_event_types

# Every type name the log may hold. Names are added here with new events and never changed or removed:
# a stored event whose name no class claims could not be read again.
STORED_TYPE_NAMES = {
    "OrderCreated",
    "OrderLineAdded",
    "OrderLineQuantityChanged",
    "OrderLineRemoved",
    "ShippingAddressSet",
    "OrderPlaced",
    "PaymentRecorded",
    "ShipmentDispatched",
    "ShipmentDelivered",
    "OrderCompleted",
    "OrderCancelled",
    "RefundIssued",
    "OrderNoteAdded",
    "OrderExpired",
    "CustomerDataErased",
}


def test_every_stored_type_name_is_still_claimed_by_an_event_class() -> None:
    assert set(e.EVENT_TYPES) >= STORED_TYPE_NAMES
    for name, cls in e.EVENT_TYPES.items():
        assert cls.type_name == name


def test_an_event_reads_back_by_its_type_name_not_its_class_name() -> None:
    placed = e.from_payload(
        "OrderPlaced", 1, {"lines": {"MUG": 1}, "subtotal": 5, "total": 5, "currency": "USD"}
    )
    assert placed.type == "OrderPlaced"
    assert isinstance(placed, e.OrderPlaced)


def test_an_event_class_without_a_type_name_fails_at_definition() -> None:
    with pytest.raises(TypeError):

        class Nameless(e.Event):  # type: ignore[call-arg]  # the missing name is the point
            pass


def test_two_classes_cannot_claim_one_type_name() -> None:
    with pytest.raises(TypeError, match="already OrderPlaced"):

        class PlacedAgain(e.Event, type_name="OrderPlaced"):
            pass

    assert e.EVENT_TYPES["OrderPlaced"] is e.OrderPlaced


def test_an_order_event_without_an_applier_is_found_at_start_up() -> None:
    assert unfolded_event_types() == set()

    class Unfolded(e.Event, type_name="TestUnfoldedEvent"):
        pass

    try:
        assert unfolded_event_types() == {Unfolded}
    finally:
        del e.EVENT_TYPES["TestUnfoldedEvent"]


def test_a_command_the_order_does_not_decide_is_a_clear_error() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Unknown(c.OrderCommand):
        pass

    with pytest.raises(TypeError, match="an order does not decide Unknown"):
        Order(id=uuid4()).decide(Unknown(order_id=uuid4()), DecisionContext(now=datetime.now(UTC)))
