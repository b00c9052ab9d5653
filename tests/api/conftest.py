"""API test helpers: clients authenticated by token as a user of each role, and an order to act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role
from orders.models import Product
from tests.addresses import ADDRESS


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    def make(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def users(make_user: Callable[..., Any]) -> dict[str, Any]:
    """One user per role, plus a second customer who owns nothing."""
    made = {role.value: make_user(role) for role in Role}
    made["other_customer"] = make_user(Role.CUSTOMER)
    return made


@pytest.fixture
def mug(make_product: Callable[..., Product]) -> Product:
    return make_product("MUG", price=1250, stock=100)


@pytest.fixture
def new_order(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], mug: Product
) -> Callable[..., dict]:
    """Create an order for the customer through the API; optionally place and pay it."""

    def create(*, place: bool = False, pay: bool = False) -> dict[str, Any]:
        customer = client_for(users["customer"])
        response = customer.post(
            "/api/orders/",
            {"lines": [{"sku": "MUG", "quantity": 2}], "shipping_address": ADDRESS},
            format="json",
        )
        assert response.status_code == 201, response.json()
        order = response.json()
        if place:
            order = customer.post(f"/api/orders/{order['id']}/place/", {}, format="json").json()
        if pay:
            finance = client_for(users["finance"])
            order = finance.post(
                f"/api/orders/{order['id']}/payments/",
                {"amount": order["total"], "reference": f"PAY-{order['id']}"},
                format="json",
            ).json()
        return order

    return create
