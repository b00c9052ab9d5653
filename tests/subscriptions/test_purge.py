"""The delivery log is purged by age, in batches; what is still owed (pending, dead) is never purged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from subscriptions import purge
from subscriptions.models import Delivery, DeliveryAttempt, Endpoint
from tests.subscriptions.conftest import append_payments, fan_out_everything

pytestmark = pytest.mark.django_db(transaction=True)


def test_old_attempts_and_delivered_deliveries_go_in_batches_and_owed_ones_stay(
    make_endpoint: Callable[..., Endpoint],
) -> None:
    endpoint = make_endpoint("http://127.0.0.1:9/in")
    append_payments(7)
    fan_out_everything(batch_size=100)
    old = timezone.now() - timedelta(days=40)
    deliveries = list(endpoint.deliveries.order_by("position"))
    for delivery in deliveries:
        DeliveryAttempt.objects.create(delivery=delivery, attempted_at=old, request_url="u", status_code=500)
    DeliveryAttempt.objects.create(delivery=deliveries[0], attempted_at=timezone.now(), request_url="u")
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries[:5]]).update(state="delivered", updated_at=old)
    Delivery.objects.filter(pk=deliveries[5].pk).update(state="dead", updated_at=old)

    deleted = purge.purge_old(batch=2)

    assert DeliveryAttempt.objects.count() == 1  # the recent one
    assert set(endpoint.deliveries.values_list("pk", flat=True)) == {
        d.pk for d in (deliveries[0], *deliveries[5:])
    }
    assert deleted == 7 + 4
    assert purge.purge_old(batch=2) == 0
