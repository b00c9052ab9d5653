"""The API tells a client what to do in its own words: where a new order is, how to write money and
send a token, what an order lacks to be placed, and what a role may not do (never a class name)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import StoredEvent
from tests.addresses import ADDRESS
from tests.conftest import project_everything

pytestmark = pytest.mark.django_db

COMMAND_CLASS_NAME = re.compile(r"\b(?:[A-Z][a-z]+){2,}\b")  # PlaceOrder, RecordPayment ...


@pytest.mark.django_db(transaction=True)
def test_a_created_order_answers_where_it_is(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    response = client_for(users["customer"]).post("/api/orders/", {}, format="json")
    assert response.status_code == 201
    location = response["Location"]
    assert location.endswith(f"/api/orders/{response.json()['id']}/")
    project_everything()
    assert client_for(users["customer"]).get(location).status_code == 200


@pytest.mark.parametrize("amount", [25, 25.0, 19.99])
def test_money_as_a_json_number_is_refused_with_the_string_form(
    amount: float,
    client_for: Callable[[Any], APIClient],
    users: dict[str, Any],
    new_order: Callable[..., dict],
) -> None:
    order = new_order(place=True)
    before = StoredEvent.objects.count()
    response = client_for(users["finance"]).post(
        f"/api/orders/{order['id']}/payments/", {"amount": amount, "reference": "R-1"}, format="json"
    )
    assert response.status_code == 400, response.json()
    message = " ".join(response.json()["error"]["details"]["amount"])
    assert "string" in message and '"19.99"' in message
    assert StoredEvent.objects.count() == before


def test_a_bearer_token_gets_a_hint_to_use_the_token_scheme(users: dict[str, Any]) -> None:
    token, _ = Token.objects.get_or_create(user=users["customer"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    response = client.get("/api/orders/")
    assert response.status_code == 401
    assert f"Token {token.key}"[:6] in response.json()["error"]["message"]
    assert "Authorization: Token" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, missing",
    [
        ({"lines": [{"sku": "MUG", "quantity": 1}]}, "shipping_address"),
        ({"shipping_address": ADDRESS}, "lines"),
    ],
)
def test_placing_an_incomplete_order_names_what_it_lacks(
    body: dict[str, Any],
    missing: str,
    client_for: Callable[[Any], APIClient],
    users: dict[str, Any],
    mug: Any,
) -> None:
    customer = client_for(users["customer"])
    order = customer.post("/api/orders/", body, format="json").json()
    response = customer.post(f"/api/orders/{order['id']}/place/", {}, format="json")
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "order_incomplete"
    assert list(error["details"]) == [missing]


@pytest.mark.parametrize(
    "role, path, body",
    [
        ("customer", "payments/", {"amount": "1.00", "reference": "R"}),
        ("customer", "refunds/", {"amount": "1.00", "reason": "r"}),
        (
            "support",
            "shipments/",
            {"lines": [{"sku": "MUG", "quantity": 1}], "carrier": "DHL", "tracking_number": "T1"},
        ),
        ("fulfillment", "cancel/", {"reason": "changed my mind"}),
        ("finance", "place/", {}),
    ],
)
def test_a_refusal_names_the_action_not_a_command_class(
    role: str,
    path: str,
    body: dict[str, Any],
    client_for: Callable[[Any], APIClient],
    users: dict[str, Any],
    new_order: Callable[..., dict],
) -> None:
    order = new_order(place=True)
    response = client_for(users[role]).post(f"/api/orders/{order['id']}/{path}", body, format="json")
    assert response.status_code == 403, response.json()
    message = response.json()["error"]["message"]
    assert not COMMAND_CLASS_NAME.search(message), message
    assert "this order" in message


def test_event_payloads_show_money_as_two_decimal_strings(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True, pay=True)
    client_for(users["finance"]).post(
        f"/api/orders/{order['id']}/refunds/", {"amount": "0.50", "reason": "dented"}, format="json"
    )
    events = client_for(users["manager"]).get(f"/api/orders/{order['id']}/events/").json()["results"]
    payloads = {event["type"]: event["payload"] for event in events}
    assert payloads["OrderLineAdded"]["unit_price"] == "12.50"
    assert (payloads["OrderPlaced"]["subtotal"], payloads["OrderPlaced"]["total"]) == ("25.00", "25.00")
    assert payloads["PaymentRecorded"]["amount"] == "25.00"
    assert payloads["RefundIssued"]["amount"] == "0.50"
    assert payloads["OrderLineAdded"]["quantity"] == 2  # counts stay numbers


def test_shipment_lines_have_the_shape_they_were_sent_in(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True, pay=True)
    sent = [{"sku": "MUG", "quantity": 1}]
    shipped = client_for(users["fulfillment"]).post(
        f"/api/orders/{order['id']}/shipments/",
        {"lines": sent, "carrier": "DHL", "tracking_number": "T-1"},
        format="json",
    )
    assert shipped.status_code == 200, shipped.json()
    assert shipped.json()["shipments"][0]["lines"] == sent
    version = shipped.json()["version"]
    past = client_for(users["manager"]).get(f"/api/orders/{order['id']}/?as_of_version={version}")
    assert past.json()["shipments"][0]["lines"] == sent


@pytest.mark.django_db(transaction=True)
def test_the_order_shows_its_payments_and_refunds(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True, pay=True)
    refunded = client_for(users["finance"]).post(
        f"/api/orders/{order['id']}/refunds/", {"amount": "0.50", "reason": "dented"}, format="json"
    )
    assert refunded.status_code == 200, refunded.json()
    written = refunded.json()
    assert [(p["reference"], p["amount"]) for p in written["payments"]] == [(f"PAY-{order['id']}", "25.00")]
    assert [(r["amount"], r["reason"]) for r in written["refunds"]] == [("0.50", "dented")]
    assert written["payments"][0]["recorded_at"] <= written["refunds"][0]["recorded_at"]
    project_everything()
    read = client_for(users["customer"]).get(f"/api/orders/{order['id']}/").json()
    assert (read["payments"], read["refunds"]) == (written["payments"], written["refunds"])
