"""The order domain of SPEC §3, as given events -> command -> expected events. No database, no Django.

Each section is one command: what it decides when allowed, then every way it is rejected. Histories
(``DRAFT``, ``PAID``, ``SHIPPED`` ...) and the products (``BOOK`` 12.50, ``MUG`` 8.00, inactive
``RETIRED``) are in ``domain_helpers``; ``DRAFT`` holds 2 books and a mug (33.00) and an address.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from config.errors import IncompleteOrder, InvalidTransition, NotFound, ValidationError
from orders import commands as c
from orders import events as e
from orders.aggregate import CustomerInfo, Order, ProductInfo
from tests.orders.domain_helpers import (
    ADDRESS,
    ADDRESS_SET,
    ALL_SHIPPED,
    BOOKS_ADDED,
    CANCELLED,
    COMPLETED,
    CREATED,
    DRAFT,
    EMPTY_DRAFT,
    EXPIRED,
    MUG_ADDED,
    NOW,
    ORDER_ID,
    PAID,
    PAID_IN_FULL,
    PARTIALLY_PAID,
    PLACED,
    PLACED_STOCK,
    PLACED_UNPAID,
    PRODUCTS,
    SHIPPED,
    T0,
    TOTAL,
    assert_events,
    assert_rejected,
    context,
    decide,
    given,
    histories,
)

ID = ORDER_ID
BAD_QUANTITIES = [
    pytest.param(0, id="zero"),
    pytest.param(1001, id="over-1000"),
    pytest.param(-1, id="negative"),
    pytest.param(1.5, id="float"),
    pytest.param("2", id="string"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="none"),
]
BAD_AMOUNTS = [
    pytest.param(0, id="zero"),
    pytest.param(-100, id="negative"),
    pytest.param(10.5, id="float"),
    pytest.param("100", id="string"),
    pytest.param(True, id="bool"),
]
BLANK_TEXTS = [
    pytest.param("", id="empty"),
    pytest.param("   \n\t", id="whitespace"),
    pytest.param(None, id="none"),
]


def status_of(order: Order) -> tuple[str, str, str]:
    return order.status, order.payment_status, order.fulfillment_status


# --- An order that does not exist -------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        c.AddLine(order_id=ID, sku="BOOK", quantity=1),
        c.ChangeLineQuantity(order_id=ID, sku="BOOK", quantity=1),
        c.RemoveLine(order_id=ID, sku="BOOK"),
        c.SetShippingAddress(order_id=ID, address=ADDRESS),
        c.PlaceOrder(order_id=ID),
        c.RecordPayment(order_id=ID, amount=100, reference="pay-1"),
        c.ShipItems(order_id=ID, lines={"BOOK": 1}, carrier="DHL", tracking_number="T"),
        c.MarkDelivered(order_id=ID, shipment_id=1),
        c.CancelOrder(order_id=ID, reason="no"),
        c.IssueRefund(order_id=ID, amount=100, reason="no"),
        c.AddNote(order_id=ID, text="hello"),
        c.ExpireOrder(order_id=ID),
    ],
    ids=lambda command: command.name,
)
def test_every_command_but_create_on_an_order_without_events_is_not_found(command: c.Command) -> None:
    assert_rejected([], command, NotFound)


# --- CreateOrder ------------------------------------------------------------------------------------


def test_create_order_records_the_customer_number_and_shop_currency() -> None:
    order = assert_events([], c.CreateOrder(order_id=ID, customer_id=7), [CREATED])

    assert status_of(order) == ("draft", "unpaid", "unfulfilled")
    assert (order.number, order.customer_id, order.customer_name) == ("ORD-000001", 7, "Ada Lovelace")
    assert order.created_at == NOW
    assert order.version == 1


def test_create_order_uses_the_currency_of_the_context() -> None:
    [created] = decide([], c.CreateOrder(order_id=ID, customer_id=7), context(currency="EUR"))

    assert isinstance(created, e.OrderCreated)
    assert created.currency == "EUR"


def test_create_order_with_lines_and_address_decides_them_all_at_once() -> None:
    # Cleaned before it is recorded: text stripped, country upper-cased, a blank optional field dropped.
    address = {**ADDRESS, "city": "  London ", "country": "gb", "line2": ""}
    command = c.CreateOrder(order_id=ID, customer_id=7, lines={"BOOK": 2, "MUG": 1}, shipping_address=address)

    order = assert_events([], command, [CREATED, BOOKS_ADDED, MUG_ADDED, ADDRESS_SET])

    assert order.subtotal == TOTAL
    assert order.shipping_address == ADDRESS


@pytest.mark.parametrize(
    "customer",
    [
        pytest.param(None, id="no-such-customer"),
        pytest.param(CustomerInfo(id=8, name="Bob", email="bob@example.com"), id="another-customer"),
    ],
)
def test_create_order_for_an_unknown_customer_is_rejected(customer: Any) -> None:
    assert_rejected(
        [],
        c.CreateOrder(order_id=ID, customer_id=7),
        ValidationError,
        details={"customer"},
        ctx=context(customer=customer),
    )


def test_create_order_twice_is_rejected() -> None:
    assert_rejected(EMPTY_DRAFT, c.CreateOrder(order_id=ID, customer_id=7), InvalidTransition)


@pytest.mark.parametrize(
    ("lines", "address", "bad_field"),
    [
        pytest.param({"NOPE": 1}, None, "sku", id="unknown-sku"),
        pytest.param({"BOOK": 1, "RETIRED": 1}, None, "sku", id="inactive-product"),
        pytest.param({"BOOK": 0}, None, "quantity", id="zero-quantity"),
        pytest.param({"BOOK": 1}, {"name": "Ada"}, "address", id="invalid-address"),
    ],
)
def test_create_order_with_invalid_initial_content_is_rejected_as_a_whole(
    lines: dict[str, int], address: dict[str, str] | None, bad_field: str
) -> None:
    command = c.CreateOrder(order_id=ID, customer_id=7, lines=lines, shipping_address=address)

    assert_rejected([], command, ValidationError, details={bad_field})


# --- AddLine ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [1, 3, 1000])
def test_add_line_records_the_product_name_and_price(quantity: int) -> None:
    order = assert_events(
        EMPTY_DRAFT,
        c.AddLine(order_id=ID, sku="BOOK", quantity=quantity),
        [e.OrderLineAdded(sku="BOOK", name="Book", unit_price=1250, quantity=quantity)],
    )

    assert order.subtotal == 1250 * quantity


def test_add_line_for_the_same_sku_adds_up_and_keeps_the_original_name_and_price() -> None:
    repriced = {
        **PRODUCTS,
        "BOOK": ProductInfo(sku="BOOK", name="Book (2nd ed.)", unit_price=1500, active=True),
    }
    history = (CREATED, BOOKS_ADDED)

    [added] = decide(history, c.AddLine(order_id=ID, sku="BOOK", quantity=3), context(products=repriced))

    assert added == e.OrderLineAdded(sku="BOOK", name="Book", unit_price=1250, quantity=3)
    line = given(*history, added).lines["BOOK"]
    assert (line.name, line.unit_price, line.quantity) == ("Book", 1250, 5)


def test_add_line_may_fill_a_line_up_to_1000() -> None:
    assert_events(
        (CREATED, BOOKS_ADDED),
        c.AddLine(order_id=ID, sku="BOOK", quantity=998),
        [e.OrderLineAdded(sku="BOOK", name="Book", unit_price=1250, quantity=998)],
    )


def test_add_line_beyond_1000_in_total_is_rejected() -> None:
    assert_rejected(
        (CREATED, BOOKS_ADDED),
        c.AddLine(order_id=ID, sku="BOOK", quantity=999),
        ValidationError,
        details={"quantity"},
    )


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_add_line_with_a_bad_quantity_is_rejected(quantity: Any) -> None:
    assert_rejected(
        EMPTY_DRAFT,
        c.AddLine(order_id=ID, sku="BOOK", quantity=quantity),
        ValidationError,
        details={"quantity"},
    )


@pytest.mark.parametrize("sku", ["NOPE", "RETIRED"], ids=["unknown-product", "inactive-product"])
def test_add_line_of_a_product_not_for_sale_is_rejected(sku: str) -> None:
    assert_rejected(
        EMPTY_DRAFT, c.AddLine(order_id=ID, sku=sku, quantity=1), ValidationError, details={"sku"}
    )


@pytest.mark.parametrize(("history", "status"), histories("placed", "cancelled", "expired", "completed"))
def test_add_line_outside_draft_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    error = assert_rejected(history, c.AddLine(order_id=ID, sku="BOOK", quantity=1), InvalidTransition)

    assert error.details == {"status": [status], "allowed": ["draft"]}


# --- ChangeLineQuantity -----------------------------------------------------------------------------


def test_change_line_quantity_sets_the_new_quantity() -> None:
    order = assert_events(
        DRAFT,
        c.ChangeLineQuantity(order_id=ID, sku="BOOK", quantity=5),
        [e.OrderLineQuantityChanged(sku="BOOK", quantity=5)],
    )

    assert order.lines["BOOK"].quantity == 5
    assert order.subtotal == 5 * 1250 + 800


def test_change_quantity_of_a_missing_line_is_rejected() -> None:
    assert_rejected(
        DRAFT, c.ChangeLineQuantity(order_id=ID, sku="NOPE", quantity=1), NotFound, details={"sku"}
    )


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_change_line_quantity_to_a_bad_quantity_is_rejected(quantity: Any) -> None:
    assert_rejected(
        DRAFT,
        c.ChangeLineQuantity(order_id=ID, sku="BOOK", quantity=quantity),
        ValidationError,
        details={"quantity"},
    )


@pytest.mark.parametrize(("history", "status"), histories("placed", "cancelled", "expired", "completed"))
def test_change_line_quantity_outside_draft_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    assert_rejected(
        history,
        c.ChangeLineQuantity(order_id=ID, sku="BOOK", quantity=1),
        InvalidTransition,
        details={"status", "allowed"},
    )


# --- RemoveLine -------------------------------------------------------------------------------------


def test_remove_line_drops_it() -> None:
    order = assert_events(DRAFT, c.RemoveLine(order_id=ID, sku="MUG"), [e.OrderLineRemoved(sku="MUG")])

    assert list(order.lines) == ["BOOK"]
    assert order.subtotal == 2500


def test_remove_a_missing_line_is_rejected() -> None:
    assert_rejected(DRAFT, c.RemoveLine(order_id=ID, sku="NOPE"), NotFound, details={"sku"})


@pytest.mark.parametrize(("history", "status"), histories("placed", "cancelled", "expired", "completed"))
def test_remove_line_outside_draft_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    assert_rejected(
        history, c.RemoveLine(order_id=ID, sku="BOOK"), InvalidTransition, details={"status", "allowed"}
    )


def test_a_removed_line_added_again_takes_the_current_price() -> None:
    repriced = {**PRODUCTS, "MUG": ProductInfo(sku="MUG", name="Mug", unit_price=900, active=True)}

    assert_events(
        (*DRAFT, e.OrderLineRemoved(sku="MUG")),
        c.AddLine(order_id=ID, sku="MUG", quantity=1),
        [e.OrderLineAdded(sku="MUG", name="Mug", unit_price=900, quantity=1)],
        context(products=repriced),
    )


# --- SetShippingAddress -----------------------------------------------------------------------------

FULL_ADDRESS = {**ADDRESS, "line2": "Flat 3", "region": "Greater London"}


@pytest.mark.parametrize(
    "history", [EMPTY_DRAFT, DRAFT, PLACED_UNPAID, PAID], ids=["new", "draft", "placed", "paid"]
)
def test_set_shipping_address_in_draft_or_placed_before_shipping(history: tuple[e.Event, ...]) -> None:
    order = assert_events(
        history,
        c.SetShippingAddress(order_id=ID, address=FULL_ADDRESS),
        [e.ShippingAddressSet(address=FULL_ADDRESS)],
    )

    assert order.shipping_address == FULL_ADDRESS


def test_set_shipping_address_cleans_the_fields() -> None:
    messy = {
        **ADDRESS,
        "name": f" {ADDRESS['name']} ",
        "line2": "  ",
        "region": None,
        "postal_code": f"{ADDRESS['postal_code']}\n",
        "country": ADDRESS["country"].lower(),
    }

    assert_events(DRAFT, c.SetShippingAddress(order_id=ID, address=messy), [ADDRESS_SET])


@pytest.mark.parametrize(
    ("changes", "bad_fields"),
    [
        pytest.param({"city": None}, {"city"}, id="missing-city"),
        pytest.param({"name": "   "}, {"name"}, id="blank-name"),
        pytest.param({"phone": "+44 20 7946 0000"}, {"phone"}, id="unknown-field"),
        pytest.param({"country": "GBR"}, {"country"}, id="country-three-letters"),
        pytest.param({"country": "G1"}, {"country"}, id="country-with-digit"),
        pytest.param({"country": "ÄÖ"}, {"country"}, id="country-non-ascii-letters"),
        pytest.param({"postal_code": 12345}, {"postal_code"}, id="postal-code-not-text"),
        pytest.param({"line1": "x" * 201}, {"line1"}, id="line1-too-long"),
        pytest.param(
            {"line1": None, "country": "United Kingdom", "phone": "1"},
            {"line1", "country", "phone"},
            id="several-at-once",
        ),
    ],
)
def test_set_invalid_shipping_address_names_each_bad_field(
    changes: dict[str, Any], bad_fields: set[str]
) -> None:
    address = {key: value for key, value in (ADDRESS | changes).items() if value is not None}

    error = assert_rejected(
        DRAFT, c.SetShippingAddress(order_id=ID, address=address), ValidationError, details={"address"}
    )

    assert set(error.details["address"]) == bad_fields


def test_set_empty_shipping_address_names_every_required_field() -> None:
    error = assert_rejected(
        DRAFT, c.SetShippingAddress(order_id=ID, address={}), ValidationError, details={"address"}
    )

    assert set(error.details["address"]) == {"name", "line1", "city", "postal_code", "country"}


@pytest.mark.parametrize("address", ["12 Analytical Row, London", ["GB"], None, 42])
def test_set_shipping_address_that_is_not_an_object_is_rejected(address: Any) -> None:
    error = assert_rejected(
        DRAFT, c.SetShippingAddress(order_id=ID, address=address), ValidationError, details={"address"}
    )

    assert isinstance(error.details["address"], list)


def test_set_shipping_address_after_something_shipped_is_rejected() -> None:
    partly_shipped = (
        *PAID,
        e.ShipmentDispatched(shipment_id=1, lines={"MUG": 1}, carrier="DHL", tracking_number="T1"),
    )

    assert_rejected(partly_shipped, c.SetShippingAddress(order_id=ID, address=ADDRESS), InvalidTransition)


@pytest.mark.parametrize(("history", "status"), histories("cancelled", "expired", "completed"))
def test_set_shipping_address_of_a_closed_order_is_rejected(
    history: tuple[e.Event, ...], status: str
) -> None:
    assert_rejected(
        history,
        c.SetShippingAddress(order_id=ID, address=ADDRESS),
        InvalidTransition,
        details={"status", "allowed"},
    )


# --- PlaceOrder -------------------------------------------------------------------------------------


def test_place_order_reserves_the_lines_and_fixes_the_totals() -> None:
    order = assert_events(DRAFT, c.PlaceOrder(order_id=ID), [PLACED])

    assert status_of(order) == ("placed", "unpaid", "unfulfilled")
    assert order.reserved_stock == PLACED_STOCK
    assert order.placed_at == NOW
    assert order.outstanding == TOTAL


def test_place_order_counts_the_lines_as_they_are_now() -> None:
    edited = (*DRAFT, e.OrderLineQuantityChanged(sku="BOOK", quantity=3), e.OrderLineRemoved(sku="MUG"))

    assert_events(
        edited,
        c.PlaceOrder(order_id=ID),
        [e.OrderPlaced(lines={"BOOK": 3}, subtotal=3750, total=3750, currency="USD")],
    )


@pytest.mark.parametrize(
    "history",
    [
        pytest.param((CREATED, ADDRESS_SET), id="never-had-lines"),
        pytest.param(
            (*DRAFT, e.OrderLineRemoved(sku="BOOK"), e.OrderLineRemoved(sku="MUG")), id="all-removed"
        ),
        pytest.param((CREATED, BOOKS_ADDED), id="no-address"),
    ],
)
def test_place_an_incomplete_order_is_rejected(history: tuple[e.Event, ...]) -> None:
    error = assert_rejected(history, c.PlaceOrder(order_id=ID), IncompleteOrder)
    assert set(error.details) <= {"lines", "shipping_address"} and error.details


@pytest.mark.parametrize(("history", "status"), histories("placed", "cancelled", "expired", "completed"))
def test_place_order_outside_draft_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    assert_rejected(history, c.PlaceOrder(order_id=ID), InvalidTransition, details={"status", "allowed"})


# --- RecordPayment ----------------------------------------------------------------------------------


def test_record_partial_payment() -> None:
    order = assert_events(
        PLACED_UNPAID,
        c.RecordPayment(order_id=ID, amount=1000, reference="pay-1"),
        [e.PaymentRecorded(amount=1000, reference="pay-1")],
    )

    assert order.payment_status == "partially_paid"
    assert (order.amount_paid, order.outstanding) == (1000, TOTAL - 1000)


@pytest.mark.parametrize(
    ("history", "amount"),
    [(PLACED_UNPAID, TOTAL), (PARTIALLY_PAID, TOTAL - 1000)],
    ids=["at-once", "the-rest"],
)
def test_record_payment_of_the_outstanding_amount_makes_it_paid(
    history: tuple[e.Event, ...], amount: int
) -> None:
    order = assert_events(
        history,
        c.RecordPayment(order_id=ID, amount=amount, reference="pay-2"),
        [e.PaymentRecorded(amount=amount, reference="pay-2")],
    )

    assert status_of(order) == ("placed", "paid", "unfulfilled")
    assert order.outstanding == 0


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_record_payment_of_a_bad_amount_is_rejected(amount: Any) -> None:
    assert_rejected(
        PLACED_UNPAID,
        c.RecordPayment(order_id=ID, amount=amount, reference="pay-1"),
        ValidationError,
        details={"amount"},
    )


@pytest.mark.parametrize("reference", BLANK_TEXTS)
def test_record_payment_without_reference_is_rejected(reference: Any) -> None:
    assert_rejected(
        PLACED_UNPAID,
        c.RecordPayment(order_id=ID, amount=100, reference=reference),
        ValidationError,
        details={"reference"},
    )


@pytest.mark.parametrize(
    ("history", "amount"),
    [(PLACED_UNPAID, TOTAL + 1), (PARTIALLY_PAID, TOTAL - 1000 + 1), (PAID, 1)],
    ids=["unpaid", "partially-paid", "paid"],
)
def test_record_payment_beyond_the_outstanding_amount_is_rejected(
    history: tuple[e.Event, ...], amount: int
) -> None:
    assert_rejected(
        history,
        c.RecordPayment(order_id=ID, amount=amount, reference="pay-2"),
        InvalidTransition,
        details={"amount"},
    )


@pytest.mark.parametrize(
    ("history", "amount"),
    [
        pytest.param(PARTIALLY_PAID, 1000, id="partially-paid"),
        pytest.param(COMPLETED, TOTAL, id="even-after-completion"),
    ],
)
def test_record_the_same_payment_again_changes_nothing(history: tuple[e.Event, ...], amount: int) -> None:
    assert_events(history, c.RecordPayment(order_id=ID, amount=amount, reference=" pay-1 "), [])


def test_record_a_known_reference_with_another_amount_is_rejected() -> None:
    assert_rejected(
        PARTIALLY_PAID,
        c.RecordPayment(order_id=ID, amount=500, reference="pay-1"),
        InvalidTransition,
        details={"reference"},
    )


@pytest.mark.parametrize(("history", "status"), histories("draft", "cancelled", "expired"))
def test_record_payment_outside_placed_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    assert_rejected(
        history,
        c.RecordPayment(order_id=ID, amount=100, reference="pay-9"),
        InvalidTransition,
        details={"status", "allowed"},
    )


# --- ShipItems --------------------------------------------------------------------------------------


def ship(lines: dict[str, int]) -> c.ShipItems:
    return c.ShipItems(order_id=ID, lines=lines, carrier="DHL", tracking_number="TRACK-1")


def test_ship_part_of_a_paid_order() -> None:
    order = assert_events(
        PAID,
        ship({"BOOK": 1}),
        [e.ShipmentDispatched(shipment_id=1, lines={"BOOK": 1}, carrier="DHL", tracking_number="TRACK-1")],
    )

    assert status_of(order) == ("placed", "paid", "partially_shipped")
    assert order.lines["BOOK"].shipped_quantity == 1


def test_ship_the_rest_as_a_second_shipment() -> None:
    first = e.ShipmentDispatched(shipment_id=1, lines={"BOOK": 1}, carrier="DHL", tracking_number="TRACK-1")

    order = assert_events(
        (*PAID, first),
        ship({"MUG": 1, "BOOK": 1}),
        [
            e.ShipmentDispatched(
                shipment_id=2, lines={"BOOK": 1, "MUG": 1}, carrier="DHL", tracking_number="TRACK-1"
            )
        ],
    )

    assert status_of(order) == ("placed", "paid", "shipped")
    assert sorted(order.shipments) == [1, 2]


@pytest.mark.parametrize(
    ("already_shipped", "to_ship"),
    [({}, {"BOOK": 3}), ({"BOOK": 1}, {"BOOK": 2}), ({"BOOK": 2, "MUG": 1}, {"MUG": 1})],
    ids=["more-than-ordered", "more-than-left", "everything-shipped"],
)
def test_ship_more_than_is_left_to_ship_is_rejected(
    already_shipped: dict[str, int], to_ship: dict[str, int]
) -> None:
    history: tuple[e.Event, ...] = PAID
    if already_shipped:
        history = (
            *PAID,
            e.ShipmentDispatched(
                shipment_id=1, lines=already_shipped, carrier="DHL", tracking_number="TRACK-1"
            ),
        )

    assert_rejected(history, ship(to_ship), InvalidTransition, details={"lines"})


def test_ship_an_unknown_sku_is_rejected() -> None:
    assert_rejected(PAID, ship({"NOPE": 1}), ValidationError, details={"sku"})


def test_ship_nothing_is_rejected() -> None:
    assert_rejected(PAID, ship({}), ValidationError, details={"lines"})


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_ship_a_bad_quantity_is_rejected(quantity: Any) -> None:
    assert_rejected(PAID, ship({"BOOK": quantity}), ValidationError, details={"quantity"})


@pytest.mark.parametrize("field", ["carrier", "tracking_number"])
@pytest.mark.parametrize("blank", BLANK_TEXTS)
def test_ship_without_carrier_or_tracking_number_is_rejected(field: str, blank: Any) -> None:
    command = c.ShipItems(
        **{"order_id": ID, "lines": {"BOOK": 1}, "carrier": "DHL", "tracking_number": "T1", field: blank}
    )

    assert_rejected(PAID, command, ValidationError, details={field})


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(PLACED_UNPAID, id="unpaid"),
        pytest.param(PARTIALLY_PAID, id="partially-paid"),
        pytest.param((*PAID, e.RefundIssued(amount=300, reason="dented")), id="partially-refunded"),
    ],
)
def test_ship_before_the_order_is_paid_is_rejected(history: tuple[e.Event, ...]) -> None:
    assert_rejected(history, ship({"BOOK": 1}), InvalidTransition)


@pytest.mark.parametrize(("history", "status"), histories("draft", "cancelled", "expired", "completed"))
def test_ship_outside_placed_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    assert_rejected(history, ship({"BOOK": 1}), InvalidTransition, details={"status", "allowed"})


# --- MarkDelivered ----------------------------------------------------------------------------------

BOOKS_SHIPPED = e.ShipmentDispatched(shipment_id=1, lines={"BOOK": 2}, carrier="DHL", tracking_number="T1")
MUG_SHIPPED = e.ShipmentDispatched(shipment_id=2, lines={"MUG": 1}, carrier="UPS", tracking_number="T2")


def test_deliver_a_shipment_while_items_are_left_to_ship_does_not_complete_the_order() -> None:
    order = assert_events(
        (*PAID, BOOKS_SHIPPED),
        c.MarkDelivered(order_id=ID, shipment_id=1),
        [e.ShipmentDelivered(shipment_id=1)],
    )

    assert status_of(order) == ("placed", "paid", "partially_shipped")
    assert order.shipments[1].delivered_at == NOW


def test_deliver_one_of_two_shipments_does_not_complete_the_order() -> None:
    order = assert_events(
        (*PAID, BOOKS_SHIPPED, MUG_SHIPPED),
        c.MarkDelivered(order_id=ID, shipment_id=2),
        [e.ShipmentDelivered(shipment_id=2)],
    )

    assert status_of(order) == ("placed", "paid", "shipped")


@pytest.mark.parametrize(
    ("history", "shipment_id"),
    [
        pytest.param(SHIPPED, 1, id="single-shipment"),
        pytest.param(
            (*PAID, BOOKS_SHIPPED, MUG_SHIPPED, e.ShipmentDelivered(shipment_id=1)), 2, id="last-of-two"
        ),
    ],
)
def test_deliver_the_last_shipment_of_a_paid_order_completes_it(
    history: tuple[e.Event, ...], shipment_id: int
) -> None:
    order = assert_events(
        history,
        c.MarkDelivered(order_id=ID, shipment_id=shipment_id),
        [e.ShipmentDelivered(shipment_id=shipment_id), e.OrderCompleted()],
    )

    assert status_of(order) == ("completed", "paid", "delivered")


def test_deliver_everything_of_a_partially_refunded_order_does_not_complete_it() -> None:
    history = (*SHIPPED, e.RefundIssued(amount=300, reason="goodwill"))

    order = assert_events(
        history, c.MarkDelivered(order_id=ID, shipment_id=1), [e.ShipmentDelivered(shipment_id=1)]
    )

    assert status_of(order) == ("placed", "partially_refunded", "delivered")


@pytest.mark.parametrize(
    ("history", "shipment_id"), [(PAID, 1), (SHIPPED, 2)], ids=["no-shipments", "other-id"]
)
def test_deliver_an_unknown_shipment_is_not_found(history: tuple[e.Event, ...], shipment_id: int) -> None:
    assert_rejected(history, c.MarkDelivered(order_id=ID, shipment_id=shipment_id), NotFound)


@pytest.mark.parametrize(
    "history",
    [(*PAID, BOOKS_SHIPPED, e.ShipmentDelivered(shipment_id=1)), COMPLETED],
    ids=["placed", "completed"],
)
def test_deliver_a_shipment_twice_is_rejected(history: tuple[e.Event, ...]) -> None:
    assert_rejected(history, c.MarkDelivered(order_id=ID, shipment_id=1), InvalidTransition)


# --- CancelOrder ------------------------------------------------------------------------------------


def cancel(reason: Any = "changed my mind") -> c.CancelOrder:
    return c.CancelOrder(order_id=ID, reason=reason)


def test_cancel_a_draft_releases_nothing() -> None:
    order = assert_events(DRAFT, cancel(), [e.OrderCancelled(reason="changed my mind", released_stock={})])

    assert status_of(order) == ("cancelled", "unpaid", "unfulfilled")


def test_cancel_a_placed_unpaid_order_releases_the_reserved_stock() -> None:
    order = assert_events(
        PLACED_UNPAID,
        cancel("  changed my mind "),
        [e.OrderCancelled(reason="changed my mind", released_stock=PLACED_STOCK)],
    )

    assert order.status == "cancelled"
    assert order.reserved_stock == {}


@pytest.mark.parametrize(
    ("history", "refund"),
    [
        pytest.param(PARTIALLY_PAID, 1000, id="partially-paid"),
        pytest.param(PAID, TOTAL, id="paid"),
        pytest.param(
            (*PAID, e.RefundIssued(amount=300, reason="dented")), TOTAL - 300, id="partially-refunded"
        ),
    ],
)
def test_cancel_a_paid_order_refunds_what_was_paid_and_not_yet_refunded(
    history: tuple[e.Event, ...], refund: int
) -> None:
    order = assert_events(
        history,
        cancel(),
        [
            e.OrderCancelled(reason="changed my mind", released_stock=PLACED_STOCK),
            e.RefundIssued(amount=refund, reason="changed my mind"),
        ],
    )

    assert (order.status, order.payment_status) == ("cancelled", "refunded")


@pytest.mark.parametrize(
    "history",
    [pytest.param((*PAID, BOOKS_SHIPPED), id="partially-shipped"), pytest.param(SHIPPED, id="shipped")],
)
def test_cancel_after_shipping_is_rejected(history: tuple[e.Event, ...]) -> None:
    assert_rejected(history, cancel(), InvalidTransition)


@pytest.mark.parametrize(("history", "status"), histories("completed", "expired", "cancelled"))
def test_cancel_a_closed_order_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    assert_rejected(history, cancel(), InvalidTransition, details={"status", "allowed"})


@pytest.mark.parametrize("reason", BLANK_TEXTS)
def test_cancel_without_a_reason_is_rejected(reason: Any) -> None:
    assert_rejected(DRAFT, cancel(reason), ValidationError, details={"reason"})


# --- IssueRefund ------------------------------------------------------------------------------------


def refund(amount: Any, reason: Any = "dented") -> c.IssueRefund:
    return c.IssueRefund(order_id=ID, amount=amount, reason=reason)


@pytest.mark.parametrize(
    ("history", "amount", "payment_status"),
    [
        pytest.param(PAID, 300, "partially_refunded", id="partial"),
        pytest.param(PAID, TOTAL, "refunded", id="full"),
        pytest.param((*PAID, e.RefundIssued(amount=300, reason="x")), TOTAL - 300, "refunded", id="the-rest"),
        pytest.param(PARTIALLY_PAID, 1000, "refunded", id="all-of-a-partial-payment"),
        pytest.param(COMPLETED, 500, "partially_refunded", id="after-completion"),
    ],
)
def test_issue_refund(history: tuple[e.Event, ...], amount: int, payment_status: str) -> None:
    order = assert_events(history, refund(amount), [e.RefundIssued(amount=amount, reason="dented")])

    assert order.payment_status == payment_status


@pytest.mark.parametrize(
    ("history", "amount"),
    [
        pytest.param(PLACED_UNPAID, 1, id="nothing-paid"),
        pytest.param(PARTIALLY_PAID, 1001, id="more-than-paid"),
        pytest.param((*PAID, e.RefundIssued(amount=300, reason="x")), TOTAL - 299, id="more-than-left"),
    ],
)
def test_refund_more_than_paid_and_not_yet_refunded_is_rejected(
    history: tuple[e.Event, ...], amount: int
) -> None:
    assert_rejected(history, refund(amount), InvalidTransition, details={"amount"})


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_refund_a_bad_amount_is_rejected(amount: Any) -> None:
    assert_rejected(PAID, refund(amount), ValidationError, details={"amount"})


@pytest.mark.parametrize("reason", BLANK_TEXTS)
def test_refund_without_a_reason_is_rejected(reason: Any) -> None:
    assert_rejected(PAID, refund(100, reason), ValidationError, details={"reason"})


# --- AddNote ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    [EMPTY_DRAFT, DRAFT, PLACED_UNPAID, PAID, SHIPPED, COMPLETED, CANCELLED, EXPIRED],
    ids=["empty-draft", "draft", "placed", "paid", "shipped", "completed", "cancelled", "expired"],
)
def test_add_note_in_any_status(history: tuple[e.Event, ...]) -> None:
    order = assert_events(
        history,
        c.AddNote(order_id=ID, text="Call before delivery"),
        [e.OrderNoteAdded(note_id=1, text="Call before delivery")],
    )

    assert [(note.id, note.text) for note in order.notes] == [(1, "Call before delivery")]


def test_note_ids_count_up() -> None:
    history = (*DRAFT, e.OrderNoteAdded(note_id=1, text="one"), e.OrderNoteAdded(note_id=2, text="two"))

    assert_events(
        history, c.AddNote(order_id=ID, text="  three "), [e.OrderNoteAdded(note_id=3, text="three")]
    )


def test_a_note_of_2000_characters_is_accepted() -> None:
    text = "n" * 2000

    assert_events(DRAFT, c.AddNote(order_id=ID, text=text), [e.OrderNoteAdded(note_id=1, text=text)])


@pytest.mark.parametrize("text", [*BLANK_TEXTS, pytest.param("n" * 2001, id="2001-characters")])
def test_add_an_empty_or_too_long_note_is_rejected(text: Any) -> None:
    assert_rejected(DRAFT, c.AddNote(order_id=ID, text=text), ValidationError, details={"text"})


# --- ExpireOrder ------------------------------------------------------------------------------------

TIMED_OUT = context(
    now=T0 + timedelta(minutes=31)
)  # the histories were placed at T0; the default timeout is 30 min


def test_expire_an_unpaid_order_after_the_payment_timeout_releases_its_stock() -> None:
    order = assert_events(
        PLACED_UNPAID, c.ExpireOrder(order_id=ID), [e.OrderExpired(released_stock=PLACED_STOCK)], TIMED_OUT
    )

    assert order.status == "expired"
    assert order.reserved_stock == {}


@pytest.mark.parametrize(
    "ctx",
    [
        pytest.param(context(now=T0 + timedelta(minutes=29)), id="default-30-minutes"),
        pytest.param(
            context(now=T0 + timedelta(hours=1), payment_timeout=timedelta(hours=2)), id="configured"
        ),
    ],
)
def test_expire_before_the_payment_timeout_is_rejected(ctx: Any) -> None:
    assert_rejected(PLACED_UNPAID, c.ExpireOrder(order_id=ID), InvalidTransition, ctx=ctx)


@pytest.mark.parametrize("history", [PARTIALLY_PAID, PAID], ids=["partially-paid", "paid"])
def test_expire_an_order_with_payments_is_rejected(history: tuple[e.Event, ...]) -> None:
    assert_rejected(history, c.ExpireOrder(order_id=ID), InvalidTransition, ctx=TIMED_OUT)


@pytest.mark.parametrize(("history", "status"), histories("draft", "cancelled", "expired", "completed"))
def test_expire_outside_placed_is_rejected(history: tuple[e.Event, ...], status: str) -> None:
    assert_rejected(
        history, c.ExpireOrder(order_id=ID), InvalidTransition, details={"status", "allowed"}, ctx=TIMED_OUT
    )


# --- Events: payloads, upcasting, folding -----------------------------------------------------------

ONE_OF_EACH: list[e.Event] = [
    CREATED,
    BOOKS_ADDED,
    e.OrderLineQuantityChanged(sku="BOOK", quantity=3),
    e.OrderLineRemoved(sku="MUG"),
    ADDRESS_SET,
    PLACED,
    PAID_IN_FULL,
    ALL_SHIPPED,
    e.ShipmentDelivered(shipment_id=1),
    e.OrderCompleted(),
    e.OrderCancelled(reason="changed my mind", released_stock=PLACED_STOCK),
    e.RefundIssued(amount=300, reason="dented"),
    e.OrderNoteAdded(note_id=1, text="Call before delivery"),
    e.OrderExpired(released_stock=PLACED_STOCK),
    e.CustomerDataErased(customer_id=7),  # on the customer's stream (recovery/); an order ignores it
]


def test_there_is_an_example_of_every_event_type() -> None:
    assert sorted(event.type for event in ONE_OF_EACH) == sorted(e.EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda event: event.type)
def test_every_event_round_trips_through_a_json_payload(event: e.Event) -> None:
    stored = json.loads(json.dumps(event.to_payload()))

    assert e.from_payload(event.type, type(event).schema_version, stored) == event


def test_a_version_1_line_added_is_read_with_unit_price() -> None:
    stored = {"sku": "BOOK", "name": "Book", "price": 1250, "quantity": 2}

    assert e.from_payload("OrderLineAdded", 1, stored) == BOOKS_ADDED
    assert stored == {"sku": "BOOK", "name": "Book", "price": 1250, "quantity": 2}, "the upcaster copies"


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(e.UnknownEventType):
        e.from_payload("OrderTeleported", 1, {})


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda event: event.type)
def test_apply_never_raises_even_on_an_empty_order(event: e.Event) -> None:
    order = given()

    order.apply(event, version=1, at=T0)

    assert (order.version, order.updated_at) == (1, T0)
