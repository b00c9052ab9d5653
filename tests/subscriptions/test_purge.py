"""The delivery log is purged by age, in batches; what is still owed (pending, dead) is never purged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, transaction
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


def test_a_delivery_redelivered_while_the_purge_waits_for_its_row_stays(
    make_endpoint: Callable[..., Endpoint],
) -> None:
    # The purge's inner SELECT sees the row as delivered; its DELETE then waits on the redelivery's row
    # lock. Once that commits, PostgreSQL rechecks only the DELETE's own WHERE on the new row version.
    endpoint = make_endpoint("http://127.0.0.1:9/in")
    append_payments(1)
    fan_out_everything(batch_size=100)
    delivery = endpoint.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(
        state="delivered", updated_at=timezone.now() - timedelta(days=40)
    )
    locked, go = threading.Event(), threading.Event()

    def redeliver() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.filter(pk=delivery.pk).update(state="pending", updated_at=timezone.now())
                locked.set()
                go.wait(10)
                time.sleep(1.0)  # the purge is now waiting on this row
        finally:
            connection.close()

    thread = threading.Thread(target=redeliver)
    thread.start()
    assert locked.wait(10)
    go.set()
    purge.purge_old(older_than=timedelta(days=30))
    thread.join(10)

    assert Delivery.objects.filter(pk=delivery.pk, state="pending").exists()
