"""Event types as stored: explicit names that outlive class renames (no database)."""

from __future__ import annotations

import pytest

from orders import events as e

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
