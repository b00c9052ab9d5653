"""Keep the delivery log bounded: attempts and settled deliveries older than the retention, in batches
(short transactions, no long lock). Pending and dead deliveries stay whatever their age."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

BATCH = 5000

_PURGE_ATTEMPTS_SQL = """
DELETE FROM subscriptions_deliveryattempt WHERE id IN (
    SELECT id FROM subscriptions_deliveryattempt WHERE attempted_at < %s LIMIT %s)
"""
# The state is tested again outside the subquery: a row redelivered while the DELETE waited for its lock
# is rechecked by PostgreSQL against the DELETE's own WHERE only, never against the subquery's.
_PURGE_DELIVERIES_SQL = """
DELETE FROM subscriptions_delivery WHERE state = 'delivered' AND id IN (
    SELECT id FROM subscriptions_delivery WHERE state = 'delivered' AND updated_at < %s
      AND NOT EXISTS (SELECT 1 FROM subscriptions_deliveryattempt AS a
                      WHERE a.delivery_id = subscriptions_delivery.id)
    LIMIT %s)
"""


def purge_old(*, older_than: timedelta | None = None, batch: int = BATCH) -> int:
    """Delete log rows older than the retention; the number deleted. Each batch commits on its own."""
    age = older_than or timedelta(days=settings.SUBSCRIPTION_LOG_RETENTION_DAYS)
    cutoff = timezone.now() - age
    total = 0
    for sql in (_PURGE_ATTEMPTS_SQL, _PURGE_DELIVERIES_SQL):
        while True:
            with connection.cursor() as cursor:  # autocommit: one transaction per batch
                cursor.execute(sql, [cutoff, batch])
                deleted = cursor.rowcount
            total += deleted
            if deleted < batch:
                break
    return total
