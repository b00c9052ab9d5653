"""Every list of the API pages the same way: ``{"next", "previous", "results"}``, ``limit`` (1-200) and an
opaque ``cursor``; a bad ``limit``, ``cursor`` or ``ordering`` is a 400 naming it, never a 500."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from orders.models import Product
from tests.conftest import project_everything


def _walk(client: APIClient, url: str) -> list[dict[str, Any]]:
    """Every item, following ``next`` from ``url``; each page is the list envelope."""
    items: list[dict[str, Any]] = []
    for _ in range(100):
        response = client.get(url)
        assert response.status_code == 200, response.json()
        page = response.json()
        assert set(page) == {"next", "previous", "results"}
        items += page["results"]
        if not page["next"]:
            return items
        url = page["next"]
    raise AssertionError("the pages never end")


def _forged_cursor(position: str) -> str:
    return base64.b64encode(f"p={position}".encode()).decode()


@pytest.mark.django_db
def test_products_page_and_search(make_product: Callable[..., Product]) -> None:
    for sku in ["MUG-BLUE", "MUG-RED", "TEA-GREEN", "TEA-BLACK", "SPOON"]:
        make_product(sku)
    make_product("MUG-OLD", active=False)
    client = APIClient()
    products = _walk(client, "/api/products/?limit=2")
    assert [p["sku"] for p in products] == ["MUG-BLUE", "MUG-RED", "SPOON", "TEA-BLACK", "TEA-GREEN"]
    assert [p["sku"] for p in _walk(client, "/api/products/?search=mug")] == ["MUG-BLUE", "MUG-RED"]
    assert [p["sku"] for p in _walk(client, "/api/products/?search=Product%20TEA-B")] == ["TEA-BLACK"]
    first = client.get("/api/products/?limit=2").json()
    second = client.get(first["next"]).json()
    assert [p["sku"] for p in client.get(second["previous"]).json()["results"]] == ["MUG-BLUE", "MUG-RED"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, field",
    [("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("cursor=bz14", "cursor")],
)
def test_a_bad_page_request_names_the_parameter(
    query: str, field: str, client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable
) -> None:
    order = new_order()
    client = client_for(users["manager"])
    for path in ["/api/products/", f"/api/orders/{order['id']}/events/", "/api/orders/"]:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.content[:300])
        assert field in response.json()["error"]["details"], (path, response.json())


@pytest.mark.django_db
def test_an_orders_events_page_oldest_first(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable
) -> None:
    order = new_order(place=True, pay=True)
    client = client_for(users["customer"])
    events = _walk(client, f"/api/orders/{order['id']}/events/?limit=2")
    assert [e["version"] for e in events] == list(range(1, order["version"] + 1))
    assert len(events) >= 5
    first = client.get(f"/api/orders/{order['id']}/events/?limit=2").json()
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [e["version"] for e in second["results"]] == [3, 4]
    assert [e["version"] for e in client.get(second["previous"]).json()["results"]] == [1, 2]
    forged = client.get(f"/api/orders/{order['id']}/events/?cursor={_forged_cursor('abc')}")
    assert forged.status_code == 400
    assert "cursor" in forged.json()["error"]["details"]


@pytest.mark.django_db(transaction=True)
def test_orders_sort_by_a_named_ordering_and_refuse_an_unknown_one(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], mug: Product
) -> None:
    customer = client_for(users["customer"])
    for quantity in [3, 1, 4, 1, 5]:
        created = customer.post(
            "/api/orders/", {"lines": [{"sku": "MUG", "quantity": quantity}]}, format="json"
        )
        assert created.status_code == 201, created.json()
    project_everything()
    support = client_for(users["support"])
    by_total = _walk(support, "/api/orders/?ordering=total&limit=2")
    assert [o["total"] for o in by_total] == ["12.50", "12.50", "37.50", "50.00", "62.50"]
    by_total_desc = _walk(support, "/api/orders/?ordering=-total&limit=2")
    assert [o["total"] for o in by_total_desc] == ["62.50", "50.00", "37.50", "12.50", "12.50"]
    oldest_first = _walk(support, "/api/orders/?ordering=created_at&limit=3")
    newest_first = _walk(support, "/api/orders/?limit=3")
    assert [o["id"] for o in oldest_first] == [o["id"] for o in reversed(newest_first)]

    unknown = support.get("/api/orders/?ordering=customer_email")
    assert unknown.status_code == 400
    assert "customer_email" in str(unknown.json()["error"]["details"]["ordering"])
    forged = support.get(f"/api/orders/?ordering=total&cursor={_forged_cursor('not-a-number')}")
    assert forged.status_code == 400, forged.content[:300]
    assert "cursor" in forged.json()["error"]["details"]
