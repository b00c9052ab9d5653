"""The representation compiled from OrderSerializer equals what the serializer itself gives."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from accounts.roles import SYSTEM
from orders import store
from orders.aggregate import replay
from orders.api.representation import WrittenOrder, order_representation
from orders.api.serializers import OrderSerializer
from orders.models import Product
from projections.models import OrderSummary
from projections.projectors import OrderSummaryProjector
from recovery.erasure import erase_customer
from tests.conftest import project_everything
from tests.projections.workload import order_lifecycle, staff_and_customers


def reference(summary: Any, *, include_notes: bool) -> dict[str, Any]:
    return dict(OrderSerializer(summary, context={"include_notes": include_notes}).data)


@pytest.mark.django_db(transaction=True)
def test_every_kind_of_order_is_represented_as_the_serializer_does(
    make_user: Callable[..., Any], make_product: Callable[..., Product]
) -> None:
    staff, customers = staff_and_customers(make_user, 3)
    skus = [make_product(stock=10_000).sku for _ in range(4)]
    rng = random.Random(11)
    order_ids = [order_lifecycle(rng, customer=customers[i % 3], staff=staff, skus=skus) for i in range(40)]
    erase_customer(customers[2].pk, actor=SYSTEM)  # erased addresses too
    project_everything()

    summaries = list(OrderSummary.objects.all())
    folded = [OrderSummaryProjector().fold(store.load(order_id)) for order_id in order_ids]

    assert len(summaries) == 40
    statuses = {s.status for s in summaries} | {s.fulfillment_status for s in summaries}
    assert {"draft", "placed", "cancelled", "completed", "shipped"} <= statuses  # the mix is real
    for summary in [*summaries, *folded]:
        for include_notes in (True, False):
            assert order_representation(summary, include_notes=include_notes) == reference(
                summary, include_notes=include_notes
            )


@pytest.mark.django_db(transaction=True)
def test_a_command_answers_what_the_read_model_will_show(
    make_user: Callable[..., Any], make_product: Callable[..., Product]
) -> None:
    """Commands answer from the aggregate (WrittenOrder), reads from the projected summary: for every kind
    of order, an erased customer's included, the two representations are the same."""
    staff, customers = staff_and_customers(make_user, 3)
    skus = [make_product(stock=10_000).sku for _ in range(4)]
    rng = random.Random(12)
    order_ids = [order_lifecycle(rng, customer=customers[i % 3], staff=staff, skus=skus) for i in range(40)]
    erase_customer(customers[2].pk, actor=SYSTEM)
    project_everything()

    for order_id in order_ids:
        history = store.load(order_id)
        written = WrittenOrder.of(
            replay(order_id, [(r.event, r.version, r.recorded_at) for r in history]), history
        )
        projected = OrderSummary.objects.get(pk=order_id)
        assert order_representation(written, include_notes=True) == order_representation(
            projected, include_notes=True
        )
