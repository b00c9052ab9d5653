"""Admin test helpers: a signed-in client per role, orders in a given state, their read model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.test import Client

from accounts.roles import Role
from orders import commands as c
from orders import store
from orders.handlers import dispatch
from orders.models import Product
from projections.admin import commands as admin_commands
from projections.models import OrderSummary
from projections.projectors import OrderSummaryProjector
from tests.addresses import ADDRESS

PASSWORD = "A-long-test-passphrase-42"  # tests.conftest.make_user's


@pytest.fixture(autouse=True)
def no_read_model_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a test's transaction the projections cannot see its events, so do not wait for them;
    tests with ``transaction=True`` that check the synchronous refresh raise this again."""
    monkeypatch.setattr(admin_commands, "READ_MODEL_WAIT_SECONDS", 0.0)


@pytest.fixture
def users(make_user: Callable[..., Any]) -> dict[str, Any]:
    """One user per role, plus a second customer."""
    made = {role.value: make_user(role) for role in Role}
    made["other_customer"] = make_user(Role.CUSTOMER)
    return made


@pytest.fixture
def client_as() -> Callable[[Any], Client]:
    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def mug(make_product: Callable[..., Product]) -> Product:
    return make_product("MUG", price=1250, stock=100)


def materialize(order_id: UUID) -> OrderSummary:
    """Write the order's read-model row as the projector would, for tests that run inside one
    transaction (where the projection runner cannot see the test's own events yet)."""
    summary = OrderSummaryProjector().fold(store.load(order_id))
    assert summary is not None
    summary.save()
    return summary


@pytest.fixture
def make_order(users: dict[str, Any], mug: Product) -> Callable[..., UUID]:
    """An order of the customer's in the given state: draft, placed, paid, shipped or delivered."""

    def make(state: str = "paid", *, customer: Any = None, quantity: int = 2, project: bool = True) -> UUID:
        customer = customer or users["customer"]
        manager = users["manager"]
        order_id = uuid4()
        steps: list[c.Command] = [
            c.CreateOrder(
                order_id=order_id, customer_id=customer.pk, lines={"MUG": quantity}, shipping_address=ADDRESS
            )
        ]
        order_states = ["draft", "placed", "paid", "shipped", "delivered"]
        reached = order_states.index(state)
        if reached >= 1:
            steps.append(c.PlaceOrder(order_id=order_id))
        if reached >= 2:
            steps.append(
                c.RecordPayment(order_id=order_id, amount=1250 * quantity, reference=f"P-{order_id}")
            )
        if reached >= 3:
            steps.append(
                c.ShipItems(order_id=order_id, lines={"MUG": quantity}, carrier="DHL", tracking_number="T1")
            )
        if reached >= 4:
            steps.append(c.MarkDelivered(order_id=order_id, shipment_id=1))
        for step in steps:
            dispatch(step, actor=manager)
        if project:
            materialize(order_id)
        return order_id

    return make


def order_url(order_id: UUID, suffix: str = "change/") -> str:
    return f"/admin/projections/ordersummary/{order_id}/{suffix}"


def action_url(order_id: UUID, action: str) -> str:
    return order_url(order_id, f"actions/{action}/")


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []
