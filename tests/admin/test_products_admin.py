"""Products and stock in the admin: managers edit products, fulfillment adjusts stock, no one deletes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import F
from django.test import Client

from orders.models import Product

pytestmark = pytest.mark.django_db

PRODUCTS = "/admin/orders/product/"


def change(client: Client, sku: str, **data: str) -> Any:
    return client.post(f"{PRODUCTS}{sku}/change/", data)


def test_the_list_shows_prices_as_money(
    users: dict[str, Any], client_as: Callable[[Any], Client], mug: Product
) -> None:
    html = client_as(users["support"]).get(PRODUCTS).content.decode()

    assert "12.50 USD" in html
    assert "MUG" in html


def test_a_manager_adds_a_product_with_a_decimal_price(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    response = client_as(users["manager"]).post(
        f"{PRODUCTS}add/",
        {"sku": "TEE", "name": "T-shirt", "price": "19.99", "active": "on", "stock_on_hand": "40"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    tee = Product.objects.get(sku="TEE")
    assert (tee.name, tee.unit_price, tee.active, tee.stock_on_hand) == ("T-shirt", 1999, True, 40)


def test_a_manager_edits_details_and_adjusts_stock(
    users: dict[str, Any], client_as: Callable[[Any], Client], mug: Product
) -> None:
    response = change(
        client_as(users["manager"]), "MUG", name="Big mug", price="14.00", active="", stock_change="5"
    )

    assert response.status_code == 302
    mug.refresh_from_db()
    assert (mug.name, mug.unit_price, mug.active, mug.stock_on_hand) == ("Big mug", 1400, False, 105)


def test_stock_is_adjusted_by_a_delta_so_reservations_meanwhile_are_kept(
    users: dict[str, Any], client_as: Callable[[Any], Client], mug: Product
) -> None:
    client = client_as(users["fulfillment"])
    assert client.get(f"{PRODUCTS}MUG/change/").status_code == 200  # the form shows 100 in stock
    Product.objects.filter(sku="MUG").update(stock_on_hand=F("stock_on_hand") - 3)  # a placement reserves 3

    change(client, "MUG", stock_change="10")

    mug.refresh_from_db()
    assert mug.stock_on_hand == 107


def test_fulfillment_may_only_adjust_stock(
    users: dict[str, Any], client_as: Callable[[Any], Client], mug: Product
) -> None:
    client = client_as(users["fulfillment"])

    form = client.get(f"{PRODUCTS}MUG/change/").context["adminform"].form
    response = change(client, "MUG", name="Hacked", price="0.01", stock_change="-4")

    assert set(form.fields) == {"stock_change"}
    assert response.status_code == 302
    mug.refresh_from_db()
    assert (mug.name, mug.unit_price, mug.stock_on_hand) == ("Product MUG", 1250, 96)
    assert client.get(f"{PRODUCTS}add/").status_code == 403


def test_stock_never_goes_below_zero(
    users: dict[str, Any], client_as: Callable[[Any], Client], mug: Product
) -> None:
    response = change(client_as(users["fulfillment"]), "MUG", stock_change="-101")

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["stock_change"] == ["only 100 in stock"]
    mug.refresh_from_db()
    assert mug.stock_on_hand == 100


@pytest.mark.parametrize("role", ["support", "finance"])
def test_support_and_finance_only_view_products(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client], mug: Product
) -> None:
    client = client_as(users[role])

    assert client.get(f"{PRODUCTS}MUG/change/").status_code == 200
    assert change(client, "MUG", stock_change="5").status_code == 403
    assert client.get(f"{PRODUCTS}add/").status_code == 403
    mug.refresh_from_db()
    assert mug.stock_on_hand == 100


def test_products_are_never_deleted(
    users: dict[str, Any], client_as: Callable[[Any], Client], mug: Product
) -> None:
    client = client_as(users["manager"])

    assert client.post(f"{PRODUCTS}MUG/delete/", {"post": "yes"}).status_code == 403
    assert client.get(PRODUCTS).context["action_form"] is None
    assert Product.objects.filter(sku="MUG").exists()
