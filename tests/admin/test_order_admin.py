"""Orders in the admin: the read model's list and detail, never edited directly."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import commands as c
from orders.handlers import dispatch
from projections.models import OrderSummary
from tests.admin.conftest import materialize, order_url

pytestmark = pytest.mark.django_db

ORDERS = "/admin/projections/ordersummary/"


def make_summaries(
    count: int, *, customer_id: int, status: str = "placed", payment: str = "paid", start: int = 0
) -> None:
    """Read-model rows straight into the table: list tests need many rows, not their history."""
    now = timezone.now()
    OrderSummary.objects.bulk_create(
        OrderSummary(
            id=uuid4(),
            number=f"ORD-9{i:05d}",
            customer_id=customer_id,
            customer_name="Bulk Buyer",
            customer_email="bulk@example.com",
            status=status,
            payment_status=payment,
            fulfillment_status="unfulfilled",
            currency="USD",
            lines=[{"sku": "MUG", "name": "Mug", "unit_price": 1250, "quantity": 1, "line_total": 1250}],
            notes=[{"id": 1, "text": "bulk", "author": "user:1", "created_at": now.isoformat()}],
            total=1250,
            amount_paid=1250 if payment == "paid" else 0,
            version=4,
            last_position=i,
            created_at=now - timedelta(minutes=i),
            placed_at=now,
            updated_at=now,
        )
        for i in range(start, start + count)
    )


def numbers_listed(response: Any) -> set[str]:
    return {str(order) for order in response.context["cl"].result_list}


def action_names(html: str) -> dict[str, bool]:
    """The action buttons on an order's page: name -> enabled (a link) or greyed out (a span)."""
    block = html.split('id="order-actions"', 1)[1].split("</ul>", 1)[0] if "order-actions" in html else ""
    return {
        name: tag == "a"
        for tag, name in re.findall(r'<(a|span) class="button"[^>]*data-action="([^"]+)"', block)
    }


@pytest.mark.parametrize("role", ["support", "fulfillment", "finance", "manager"])
def test_every_staff_role_lists_every_order(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    mine = make_order("placed", customer=users["customer"])
    theirs = make_order("paid", customer=users["other_customer"])

    response = client_as(users[role]).get(ORDERS)

    assert response.status_code == 200
    numbers = {OrderSummary.objects.get(id=order_id).number for order_id in (mine, theirs)}
    assert numbers_listed(response) == numbers
    assert "25.00 USD" in response.content.decode()


def test_filters_and_search(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    placed = OrderSummary.objects.get(id=make_order("placed"))
    paid = OrderSummary.objects.get(id=make_order("paid", customer=users["other_customer"]))
    shipped = OrderSummary.objects.get(id=make_order("shipped"))
    client = client_as(users["support"])

    def listed(query: str) -> set[str]:
        response = client.get(f"{ORDERS}?{query}")
        assert response.status_code == 200, query
        return numbers_listed(response)

    assert listed("status=placed") == {placed.number, paid.number, shipped.number}
    assert listed("payment_status=unpaid") == {placed.number}
    assert listed("payment_status=paid&fulfillment_status=unfulfilled") == {paid.number}
    assert listed("fulfillment_status=shipped") == {shipped.number}
    week_ago = urlencode({"created_at__gte": (timezone.now() - timedelta(days=7)).isoformat()})
    assert listed(week_ago) == {placed.number, paid.number, shipped.number}
    assert listed(urlencode({"created_at__lt": (timezone.now() - timedelta(days=7)).isoformat()})) == set()
    assert listed(f"q={paid.number}") == {paid.number}
    assert listed(f"q={users['other_customer'].email}") == {paid.number}
    assert listed(f"q={users['customer'].pk}") >= {placed.number, shipped.number}
    assert listed(f"q={shipped.id}") == {shipped.number}
    assert listed("q=nobody-has-this") == set()


def test_the_order_page_shows_lines_payments_shipments_notes_and_the_timeline(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("shipped")
    dispatch(c.AddNote(order_id=order_id, text="Left with the neighbour"), actor=users["support"])
    materialize(order_id)

    response = client_as(users["fulfillment"]).get(order_url(order_id))

    assert response.status_code == 200
    html = response.content.decode()
    sections = {
        name: html.split(f'id="order-{name}"', 1)[1].split("</table>", 1)[0]
        for name in ("lines", "payments", "shipments", "notes", "timeline")
    }
    assert (
        "MUG" in sections["lines"] and "12.50 USD" in sections["lines"] and "25.00 USD" in sections["lines"]
    )
    assert "payment" in sections["payments"] and "25.00 USD" in sections["payments"]
    assert "DHL" in sections["shipments"] and "2 x MUG" in sections["shipments"]
    assert "Left with the neighbour" in sections["notes"]
    assert f"{users['support'].username} (support)" in sections["notes"]
    for event_type in (
        "OrderCreated",
        "OrderPlaced",
        "PaymentRecorded",
        "ShipmentDispatched",
        "OrderNoteAdded",
    ):
        assert event_type in sections["timeline"]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", sections["timeline"])  # times formatted


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("support", {"cancel": True, "note": True}),
        ("fulfillment", {"ship": True, "deliver": False, "note": True}),
        ("finance", {"record-payment": False, "refund": True, "note": True}),
        (
            "manager",
            {
                "record-payment": False,
                "ship": True,
                "deliver": False,
                "refund": True,
                "cancel": True,
                "note": True,
            },
        ),
    ],
)
def test_each_role_gets_the_buttons_of_its_commands(
    role: str,
    expected: dict[str, bool],
    users: dict[str, Any],
    client_as: Callable[[Any], Client],
    make_order: Callable[..., Any],
) -> None:
    """A paid, unshipped order: what the role may not do is absent; what the state rules out is greyed."""
    order_id = make_order("paid")

    response = client_as(users[role]).get(order_url(order_id))

    assert action_names(response.content.decode()) == expected


def test_an_unknown_order_is_not_found(users: dict[str, Any], client_as: Callable[[Any], Client]) -> None:
    client = client_as(users["manager"])

    assert client.get(order_url(uuid4())).status_code == 404
    assert client.get(order_url(uuid4(), "actions/note/")).status_code == 404
    assert client.get(order_url("not-a-uuid")).status_code == 404


def test_the_read_model_is_never_edited_directly(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("paid")
    client = client_as(users["manager"])
    before = OrderSummary.objects.get(id=order_id)

    assert client.post(order_url(order_id), {"status": "cancelled"}).status_code == 403
    assert client.get(f"{ORDERS}add/").status_code == 403
    assert client.post(order_url(order_id, "delete/"), {"post": "yes"}).status_code == 403
    changelist = client.get(ORDERS)
    assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)
    assert OrderSummary.objects.get(id=order_id).status == before.status == "placed"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("support", {"open_cancel", "open_note"}),
        ("fulfillment", {"open_ship", "open_deliver", "open_note"}),
        ("finance", {"open_record_payment", "open_refund", "open_note"}),
        (
            "manager",
            {"open_record_payment", "open_ship", "open_deliver", "open_refund", "open_cancel", "open_note"},
        ),
    ],
)
def test_the_list_offers_each_role_its_actions(
    role: str, expected: set[str], users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    response = client_as(users[role]).get(ORDERS)

    choices = {name for name, _ in response.context["action_form"].fields["action"].choices if name}
    assert choices == expected


def test_a_list_action_opens_the_form_for_the_one_selected_order(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    first, second = make_order("paid"), make_order("paid")
    client = client_as(users["fulfillment"])

    one = client.post(ORDERS, {"action": "open_ship", "_selected_action": [str(first)]})
    two = client.post(
        ORDERS, {"action": "open_ship", "_selected_action": [str(first), str(second)]}, follow=True
    )

    assert one.status_code == 302
    assert one["Location"] == order_url(first, "actions/ship/")
    assert "select exactly one order" in two.content.decode()


def test_the_list_costs_the_same_queries_for_5_or_60_rows(
    users: dict[str, Any], client_as: Callable[[Any], Client], django_assert_max_num_queries: Any
) -> None:
    client = client_as(users["finance"])
    client.get(ORDERS)  # the session's first use

    def list_queries() -> list[dict[str, str]]:
        # The date hierarchy adds one query (its years), whatever the page size.
        with django_assert_max_num_queries(9), CaptureQueriesContext(connection) as queries:
            response = client.get(f"{ORDERS}?status=placed&q=bulk")
        assert response.status_code == 200
        return queries.captured_queries

    make_summaries(5, customer_id=users["customer"].pk)
    few = list_queries()
    make_summaries(55, customer_id=users["other_customer"].pk, start=5)
    many = list_queries()

    assert len(many) == len(few)
    # The list leaves the JSON columns (lines, notes ...) in the database.
    assert not any('"projections_ordersummary"."notes"' in query["sql"] for query in many)


def test_the_order_page_shows_its_states_as_the_lists_badges(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("paid")

    html = client_as(users["support"]).get(order_url(order_id)).content.decode()

    field = r'fieldBox field-(\w+)">\s*<label[^>]*>[^<]*</label>\s*<div class="readonly">(.*?)</div>'
    shown = dict(re.findall(field, html, re.S))
    assert shown["status_badge"] == '<span class="badge badge-wait">placed</span>'
    assert shown["payment"] == '<span class="badge badge-done">paid</span>'
    assert shown["fulfillment"] == '<span class="badge badge-quiet">unfulfilled</span>'
