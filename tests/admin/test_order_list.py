"""The order list as shop staff use it: open orders by default, badges, search as people type it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from config.admin_base import when
from orders.admin.display import order_number
from projections.models import OrderSummary
from tests.addresses import ADDRESS, OTHER_ADDRESS
from tests.admin.test_order_admin import make_summaries, numbers_listed

pytestmark = pytest.mark.django_db
ORDERS = "/admin/projections/ordersummary/"


def test_drafts_and_expired_orders_are_hidden_until_the_filter_asks_for_them(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    placed, draft = make_order("placed"), make_order("draft")
    make_summaries(1, customer_id=users["customer"].pk, status="expired", payment="unpaid")
    number = {str(o.pk): o.number for o in OrderSummary.objects.all()}
    client = client_as(users["support"])

    default = numbers_listed(client.get(ORDERS))
    everything = numbers_listed(client.get(ORDERS, {"status": "all"}))
    drafts = numbers_listed(client.get(ORDERS, {"status": "draft"}))

    assert default == {number[str(placed)]}
    assert everything == set(number.values())
    assert drafts == {number[str(draft)]}


def test_states_are_badges_with_their_words(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    make_order("paid")

    html = client_as(users["finance"]).get(ORDERS).content.decode()

    assert '<span class="badge badge-wait">placed</span>' in html
    assert '<span class="badge badge-done">paid</span>' in html
    assert '<span class="badge badge-quiet">unfulfilled</span>' in html


@pytest.mark.parametrize("typed", ["236", "ord-236", "ORD-236", "ORD-000236", " 000236 "])
def test_an_order_number_is_found_as_people_type_it(typed: str) -> None:
    assert order_number(typed) == "ORD-000236"


@pytest.mark.parametrize("typed", ["", "ord-", "236a", "ORD-1234567890", "order 236"])
def test_other_text_is_not_an_order_number(typed: str) -> None:
    assert order_number(typed) is None


def test_search_by_number_as_typed_shipping_name_city_and_payment_reference(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    paid = OrderSummary.objects.get(pk=make_order("paid"))
    other = make_order("placed", customer=users["other_customer"])
    OrderSummary.objects.filter(pk=other).update(shipping_address=OTHER_ADDRESS)  # only the row shown
    client = client_as(users["support"])
    digits = str(int(paid.number.removeprefix("ORD-")))
    reference = paid.payments[0]["reference"]

    for term in (digits, f"ord-{digits}", ADDRESS["name"].split()[1], ADDRESS["city"].lower(), reference):
        assert numbers_listed(client.get(ORDERS, {"q": term})) == {paid.number}, term


def test_the_menu_speaks_the_shops_words_and_view_site_opens_the_api_docs(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    html = client_as(users["manager"]).get("/admin/").content.decode()

    assert "Orders and reports" in html and "Catalogue and event log" in html
    assert "Event log" in html
    assert "write side" not in html and "read side" not in html
    assert 'href="/api/docs/"' in html


def test_times_name_their_time_zone() -> None:
    moment = timezone.now()

    shown = when(moment)

    assert shown == timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
    assert shown.split()[-1].isalpha()  # e.g. "UTC", "CET"
