"""Shared fixtures: users with roles, products, and a helper to run callables in real threads."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db import connections
from django.utils import timezone

from accounts.roles import Role
from accounts.services import create_user
from orders import commands as c
from orders import handlers
from orders.handlers import dispatch
from orders.models import Product
from tests.addresses import ADDRESS
from tests.clock import FakeClock, FakeDateTimeClock

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings: Any) -> None:
    """Full token buckets for every test: API tests share 127.0.0.1 and would drain each other's."""
    settings.THROTTLE_KEY_PREFIX = f"throttle-test-{uuid4().hex}:"


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    def make(role: Role | str, username: str | None = None) -> Any:
        role = Role(role)
        return create_user(
            username=username or f"{role.value}-{next(_counter)}",
            role=role,
            password="A-long-test-passphrase-42",
            email=f"{role.value}{next(_counter)}@example.com",
            first_name="Test",
            last_name=role.value.title(),
        )

    return make


@pytest.fixture
def customer(make_user: Callable[..., Any]) -> Any:
    return make_user(Role.CUSTOMER)


@pytest.fixture
def manager(make_user: Callable[..., Any]) -> Any:
    return make_user(Role.MANAGER)


@pytest.fixture
def make_product(db: None) -> Callable[..., Product]:
    def make(sku: str | None = None, *, price: int = 1000, stock: int = 100, active: bool = True) -> Product:
        return Product.objects.create(
            sku=sku or f"SKU-{next(_counter)}",
            name=f"Product {sku}",
            unit_price=price,
            stock_on_hand=stock,
            active=active,
        )

    return make


@pytest.fixture
def placed_order(customer: Any, make_product: Callable[..., Product]) -> Callable[..., UUID]:
    """Create and place an order for ``customer``; returns its id."""

    def place(lines: dict[str, int] | None = None, *, actor: Any = None) -> UUID:
        if lines is None:
            lines = {make_product().sku: 2}
        order_id = uuid4()
        dispatch(
            c.CreateOrder(order_id=order_id, customer_id=customer.pk, lines=lines, shipping_address=ADDRESS),
            actor=actor or customer,
        )
        dispatch(c.PlaceOrder(order_id=order_id), actor=actor or customer)
        return order_id

    return place


def run_in_threads(target: Callable[[int], Any], count: int, *, timeout: float = 60) -> list[Any]:
    """Run ``target(i)`` in ``count`` real threads, started together; return results or exceptions.

    Each thread uses its own database connection (Django's are per thread) and closes it at the end.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a worker thread hung"
    return results


def project_everything(timeout: float = 15.0) -> None:
    """Run the projections until no event is left behind.

    Events become readable once every older transaction has ended — in the whole PostgreSQL cluster, so
    another test run on the same server can hold them back for a moment; hence the loop.
    """
    from projections import runner
    from projections.projectors import PROJECTORS

    deadline = time.monotonic() + timeout
    while True:
        runner.catch_up_all()
        if not any(runner.has_pending(name) for name in PROJECTORS):
            return
        assert time.monotonic() < deadline, "projections did not catch up"
        time.sleep(0.05)


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when the test says so (``tests/clock.py``)."""
    return FakeClock()


@pytest.fixture
def bus_clock(monkeypatch: pytest.MonkeyPatch) -> FakeDateTimeClock:
    """The command bus's clock (``orders.handlers.clock``), starting now and moved only by the test."""
    clock = FakeDateTimeClock(timezone.now())
    monkeypatch.setattr(handlers, "clock", clock)
    return clock
