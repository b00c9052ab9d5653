"""The order API end to end: the lifecycle over HTTP, reads from the projections, read-your-writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import Product
from projections.api.orders import ConsistentReadMixin
from tests.addresses import ADDRESS
from tests.clock import FakeClock
from tests.conftest import project_everything, run_in_threads

ORDER_FIELDS = {
    "id",
    "number",
    "customer",
    "status",
    "payment_status",
    "fulfillment_status",
    "currency",
    "lines",
    "shipping_address",
    "subtotal",
    "total",
    "amount_paid",
    "amount_refunded",
    "payments",
    "refunds",
    "shipments",
    "notes",
    "version",
    "created_at",
    "placed_at",
    "updated_at",
}


@pytest.mark.django_db
def test_an_order_through_its_whole_life_over_http(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], make_product: Callable[..., Product]
) -> None:
    make_product("TEE", price=1999, stock=10)
    make_product("CAP", price=2400, stock=10)
    customer = client_for(users["customer"])
    finance, fulfillment = client_for(users["finance"]), client_for(users["fulfillment"])

    created = customer.post("/api/orders/", {"lines": [{"sku": "TEE", "quantity": 1}]}, format="json")
    assert created.status_code == 201
    order = created.json()
    assert set(order) == ORDER_FIELDS - {"notes"}  # customers never get notes
    assert (order["status"], order["total"], order["currency"]) == ("draft", "19.99", "USD")
    assert created["X-Consistency-Token"]
    url = f"/api/orders/{order['id']}"

    steps = [
        (customer.post, f"{url}/lines/", {"sku": "CAP", "quantity": 2}),
        (customer.patch, f"{url}/lines/TEE/", {"quantity": 3}),
        (customer.delete, f"{url}/lines/CAP/", None),
        (customer.put, f"{url}/shipping-address/", ADDRESS),
        (customer.post, f"{url}/place/", {}),
        (finance.post, f"{url}/payments/", {"amount": "59.97", "reference": "PSP-1"}),
        (
            fulfillment.post,
            f"{url}/shipments/",
            {"lines": [{"sku": "TEE", "quantity": 3}], "carrier": "UPS", "tracking_number": "1Z999"},
        ),
        (fulfillment.post, f"{url}/shipments/1/deliver/", {}),
    ]
    for method, path, body in steps:
        response = method(path, body, format="json")
        assert response.status_code == 200, (path, response.json())
    final = response.json()
    assert (final["status"], final["payment_status"], final["fulfillment_status"]) == (
        "completed",
        "paid",
        "delivered",
    )
    assert final["lines"] == [
        {
            "sku": "TEE",
            "name": "Product TEE",
            "quantity": 3,
            "unit_price": "19.99",
            "line_total": "59.97",
            "shipped_quantity": 3,
        }
    ]
    assert final["shipments"][0]["tracking_number"] == "1Z999"
    assert final["shipments"][0]["delivered_at"] is not None
    assert final["version"] == 11  # ... shipped, delivered, completed
    assert Product.objects.get(sku="TEE").stock_on_hand == 7


@pytest.mark.django_db
def test_staff_create_orders_for_a_customer(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], mug: Product
) -> None:
    support = client_for(users["support"])
    missing = support.post("/api/orders/", {"lines": [{"sku": "MUG", "quantity": 1}]}, format="json")
    assert missing.status_code == 400
    assert "customer" in missing.json()["error"]["details"]
    created = support.post("/api/orders/", {"customer": users["customer"].pk}, format="json")
    assert created.status_code == 201
    assert created.json()["customer"] == users["customer"].pk
    assert created.json()["notes"] == []


@pytest.mark.django_db
def test_rule_breaks_answer_409_with_their_code(
    client_for: Callable[[Any], APIClient],
    users: dict[str, Any],
    make_product: Callable[..., Product],
    new_order: Callable[..., dict],
) -> None:
    make_product("RARE", stock=1)
    customer = client_for(users["customer"])
    order = customer.post(
        "/api/orders/",
        {"lines": [{"sku": "RARE", "quantity": 2}], "shipping_address": ADDRESS},
        format="json",
    ).json()
    short = customer.post(f"/api/orders/{order['id']}/place/", {}, format="json")
    assert short.status_code == 409
    assert short.json()["error"]["code"] == "insufficient_stock"
    placed = new_order(place=True)
    again = customer.post(f"/api/orders/{placed['id']}/place/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"


@pytest.mark.django_db
def test_the_same_payment_reference_again_changes_nothing(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True)
    finance = client_for(users["finance"])
    url = f"/api/orders/{order['id']}/payments/"
    first = finance.post(url, {"amount": "5.00", "reference": "R"}, format="json").json()
    repeated = finance.post(url, {"amount": "5.00", "reference": "R"}, format="json")
    conflicting = finance.post(url, {"amount": "6.00", "reference": "R"}, format="json")
    assert repeated.status_code == 200
    assert repeated.json()["version"] == first["version"]
    assert repeated.json()["amount_paid"] == "5.00"
    assert conflicting.status_code == 409


@pytest.mark.django_db(transaction=True)
def test_lists_filter_search_and_paginate(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    drafts = [new_order() for _ in range(3)]
    placed = [new_order(place=True) for _ in range(2)]
    project_everything()
    support = client_for(users["support"])

    def ids(query: str) -> list[str]:
        response = support.get(f"/api/orders/{query}")
        assert response.status_code == 200, response.json()
        return [o["id"] for o in response.json()["results"]]

    everything = ids("")
    assert everything == [o["id"] for o in reversed(drafts + placed)]  # newest first
    assert set(ids("?status=placed")) == {o["id"] for o in placed}
    assert set(ids("?payment_status=unpaid&status=draft")) == {o["id"] for o in drafts}
    assert ids(f"?search={placed[0]['number']}") == [placed[0]["id"]]
    assert len(ids(f"?search={users['customer'].email}")) == 5
    assert ids(f"?customer={users['other_customer'].pk}") == []
    future = (timezone.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"?created_before={future}") == everything
    assert ids(f"?created_after={future}") == []

    first_page = support.get("/api/orders/?limit=2").json()
    assert [o["id"] for o in first_page["results"]] == everything[:2]
    second_page = support.get(first_page["next"]).json()
    assert [o["id"] for o in second_page["results"]] == everything[2:4]


@pytest.mark.django_db(transaction=True)
def test_past_states_are_rebuilt_from_the_log(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True, pay=True)
    customer = client_for(users["customer"])
    url = f"/api/orders/{order['id']}/"

    assert customer.get(f"{url}?as_of_version=3").json()["status"] == "draft"
    assert customer.get(f"{url}?as_of_version=4").json()["status"] == "placed"
    placed_at = customer.get(f"{url}?as_of_version=4").json()["placed_at"]
    assert customer.get(f"{url}?as_of={placed_at}").json()["version"] == 4
    before = "2000-01-01T00:00:00Z"
    assert customer.get(f"{url}?as_of={before}").status_code == 404
    events = customer.get(f"/api/orders/{order['id']}/events/").json()["results"]
    assert [e["type"] for e in events] == [
        "OrderCreated",
        "OrderLineAdded",
        "ShippingAddressSet",
        "OrderPlaced",
        "PaymentRecorded",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]


@pytest.mark.django_db(transaction=True)
def test_a_read_with_the_consistency_token_waits_for_the_projection(
    client_for: Callable[[Any], APIClient],
    users: dict[str, Any],
    new_order: Callable[..., dict],
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(ConsistentReadMixin, "consistency_timer", fake_clock)
        patch.setattr(ConsistentReadMixin, "consistency_sleep", fake_clock.sleep)
        order = new_order()
        project_everything()
        customer = client_for(users["customer"])
        changed = customer.post(f"/api/orders/{order['id']}/place/", {}, format="json")
        token = changed["X-Consistency-Token"]

        # The projection worker is paused (nothing projects in this test process): the read polls for its
        # 2 s (of the fake clock), then gives up.
        lagging = customer.get(f"/api/orders/{order['id']}/", HTTP_X_CONSISTENCY_TOKEN=token)
        assert lagging.status_code == 503
        assert lagging.json()["error"]["code"] == "projection_lagging"
        assert lagging["Retry-After"]
        assert 2.0 <= fake_clock.elapsed <= 2.0 + 0.021  # the whole wait, and one poll interval at most

        # Resumed: a worker catches up, on a connection of its own, 0.3 s into the next read's wait.
        waiting_since = fake_clock.elapsed
        fake_clock.at(waiting_since + 0.3, lambda: run_in_threads(lambda i: project_everything(), 1))
        fresh = customer.get(f"/api/orders/{order['id']}/", HTTP_X_CONSISTENCY_TOKEN=token)
        assert fresh.status_code == 200
        assert fresh.json()["status"] == "placed"
        assert 0.3 <= fake_clock.elapsed - waiting_since <= 0.3 + 0.021  # seen at the next poll
    # The real clock: a token already reached answers at once.
    listed = customer.get("/api/orders/", HTTP_X_CONSISTENCY_TOKEN=token).json()["results"]
    assert listed[0]["status"] == "placed"


@pytest.mark.django_db(transaction=True)
def test_a_token_that_no_command_answered_is_refused_at_once(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    """A real event's position with another transaction id is a forged token: 400, without the wait
    (the projections are paused here, so a wait would end in 503)."""
    order = new_order()
    customer = client_for(users["customer"])
    xid, position = customer.post(f"/api/orders/{order['id']}/place/", {}, format="json")[
        "X-Consistency-Token"
    ].split(".")

    forged = customer.get(
        f"/api/orders/{order['id']}/", HTTP_X_CONSISTENCY_TOKEN=f"{int(xid) + 1}.{position}"
    )

    assert forged.status_code == 400
    assert forged.json()["error"]["details"] == {
        "X-Consistency-Token": ["no command answered with this consistency token"]
    }


@pytest.mark.django_db(transaction=True)
def test_daily_sales_and_projection_status(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    new_order(place=True, pay=True)
    new_order(place=True)
    project_everything()
    today = timezone.localdate()
    report = (
        client_for(users["finance"])
        .get(f"/api/reports/daily-sales/?from={today - timedelta(days=2)}&to={today}")
        .json()
    )
    assert report["currency"] == "USD"
    assert [d["day"] for d in report["days"]] == [str(today - timedelta(days=n)) for n in (2, 1, 0)]
    assert report["days"][-1] == {
        "day": str(today),
        "orders_placed": 2,
        "gross": "50.00",
        "refunds": "0.00",
        "net": "50.00",
    }
    assert report["days"][0]["orders_placed"] == 0

    manager = client_for(users["manager"])
    statuses = manager.get("/api/projections/").json()
    assert {s["name"]: (s["state"], s["lag_events"]) for s in statuses} == {
        "order_summary": ("running", 0),
        "daily_sales": ("running", 0),
        "customer_stats": ("running", 0),
    }
    assert manager.post("/api/projections/nope/rebuild/").status_code == 404


@pytest.mark.django_db
def test_products_are_public(mug: Product, make_product: Callable[..., Product]) -> None:
    make_product("OLD", active=False)
    response = APIClient().get("/api/products/")
    assert response.status_code == 200
    assert [p["sku"] for p in response.json()["results"]] == ["MUG"]
    assert response.json()["results"][0]["unit_price"] == "12.50"


@pytest.mark.django_db
def test_a_token_for_good_credentials_only(users: dict[str, Any]) -> None:
    client = APIClient()
    good = client.post(
        "/api/auth/token/",
        {"username": users["support"].username, "password": "A-long-test-passphrase-42"},
        format="json",
    )
    assert good.status_code == 200
    authed = APIClient()
    authed.credentials(HTTP_AUTHORIZATION=f"Token {good.json()['token']}")
    assert authed.get("/api/orders/").status_code == 200
    bad = client.post(
        "/api/auth/token/", {"username": users["support"].username, "password": "nope"}, format="json"
    )
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "authentication_failed"
    assert APIClient().get("/api/orders/").status_code == 401
