"""The beat task that expires unpaid orders, as the system actor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings

from orders import commands as c
from orders import store
from orders.handlers import dispatch
from orders.models import Product
from projections import runner
from projections.expiry import expire_unpaid_orders
from projections.models import OrderSummary
from tests.clock import FakeDateTimeClock

pytestmark = pytest.mark.django_db(transaction=True)


def test_unpaid_orders_expire_once_the_payment_timeout_has_passed_and_release_stock(
    manager: Any,
    make_product: Callable[..., Product],
    placed_order: Callable[..., Any],
    bus_clock: FakeDateTimeClock,
) -> None:
    product = make_product("A", stock=10)
    unpaid, paid = placed_order({"A": 2}), placed_order({"A": 3})
    dispatch(c.RecordPayment(order_id=paid, amount=1, reference="P"), actor=manager)
    runner.catch_up_all()
    placed_at = OrderSummary.objects.get(pk=unpaid).placed_at
    assert placed_at is not None and timedelta(minutes=30) == settings.ORDER_PAYMENT_TIMEOUT

    bus_clock.now = placed_at + timedelta(minutes=30)
    assert expire_unpaid_orders() == 0  # not older than the timeout yet
    bus_clock.advance(timedelta(seconds=1))
    assert expire_unpaid_orders() == 1

    assert store.load(unpaid)[-1].event.type == "OrderExpired"
    assert store.load(unpaid)[-1].metadata["actor"] == "system"
    assert store.load(paid)[-1].event.type == "PaymentRecorded"
    product.refresh_from_db()
    assert product.stock_on_hand == 10 - 3


def test_a_stale_candidate_is_refused_by_the_aggregate(
    manager: Any, placed_order: Callable[..., Any], bus_clock: FakeDateTimeClock
) -> None:
    order_id = placed_order()
    runner.catch_up_all()
    dispatch(c.RecordPayment(order_id=order_id, amount=1, reference="P"), actor=manager)  # read side lags
    assert OrderSummary.objects.get(pk=order_id).payment_status == "unpaid"
    bus_clock.advance(timedelta(hours=1))
    assert expire_unpaid_orders() == 0
    assert store.load(order_id)[-1].event.type == "PaymentRecorded"
