"""End to end: commands on the bus, a real Celery worker (nudged on commit, and by beat) fans out and
sends to the loopback receiver, which verifies every signature with the standardwebhooks library."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from orders.models import Product
from subscriptions.models import Delivery, Endpoint
from tests.projections.test_celery_worker import WorkerProcess, wait_for, worker  # noqa: F401
from tests.projections.workload import order_lifecycle, staff_and_customers
from tests.subscriptions.receiver import Receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


def test_a_celery_worker_delivers_every_event_of_real_commands(
    worker: Callable[..., WorkerProcess],  # noqa: F811
    settings: Any,
    receiver: Receiver,
    make_endpoint: Callable[..., Endpoint],
    make_user: Callable[..., Any],
    make_product: Callable[..., Product],
) -> None:
    settings.SUBSCRIPTION_NUDGE_ON_COMMIT = True
    endpoint = make_endpoint(receiver.url())
    staff, customers = staff_and_customers(make_user, 2)
    skus = [make_product(stock=100_000).sku for _ in range(3)]
    rng = random.Random(7)
    worker(SUBSCRIPTION_INTERVAL="0.5")
    for i in range(8):
        order_lifecycle(rng, customer=customers[i % 2], staff=staff, skus=skus)

    from orders.models import StoredEvent

    since = endpoint.cursor.position
    expected = set(StoredEvent.objects.filter(position__gt=since).values_list("position", flat=True))
    assert expected
    wait_for(
        lambda: {body["position"] for body in receiver.inbox.values()} >= expected,
        timeout=60,
        what="every event to arrive at the receiver",
    )
    assert receiver.bad_signatures == 0
    assert endpoint.deliveries.filter(state=Delivery.State.DELIVERED).count() == len(expected)
