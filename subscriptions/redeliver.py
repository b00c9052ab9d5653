"""Redeliver: one delivery, a range of positions, or every failure since a time. Each request is
recorded (who, what, how many) in ``RedeliveryRequest``, in the same transaction as its effect.

A redelivered delivery is due at once with its attempts counted afresh; it keeps its webhook-id, so a
receiver that has it already can tell. A range also brings back deliveries purged from the log, or of
events from before the endpoint existed: they are inserted from the log itself.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from subscriptions.models import Delivery, DeliveryAttempt, Endpoint, RedeliveryRequest

logger = logging.getLogger(__name__)
MAX_RANGE = 100_000

_INSERT_RANGE_SQL = """
INSERT INTO subscriptions_delivery
    (endpoint_id, position, stream_id, stream_version, event_type, state, attempts, next_attempt_at,
     last_error, created_at, updated_at)
SELECT %s::uuid, l.position, l.stream_id, l.version, l.event_type, 'pending', 0, now(), '', now(), now()
FROM event_log AS l
WHERE l.position BETWEEN %s AND %s AND (cardinality(%s::text[]) = 0 OR l.event_type = ANY(%s::text[]))
ON CONFLICT ON CONSTRAINT subscriptions_delivery_once DO NOTHING
"""


class RangeTooLarge(ValueError):
    pass


def _reset(deliveries: QuerySet[Delivery]) -> int:
    now = timezone.now()
    # The lease token goes: a send still out must not record its failure over the redelivery (the lease's
    # expiry stays, so the delivery is not sent twice at once).
    return deliveries.update(
        state=Delivery.State.PENDING,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        lease_token=None,
        updated_at=now,
    )


def _audit(endpoint: Endpoint, actor: Any, scope: str, count: int) -> None:
    RedeliveryRequest.objects.create(endpoint=endpoint, requested_by=actor, scope=scope, deliveries=count)
    logger.info("redelivery of %s to endpoint %s: %s deliveries", scope, endpoint.pk, count)


@transaction.atomic
def redeliver_one(delivery: Delivery, *, actor: Any) -> int:
    count = _reset(Delivery.objects.filter(pk=delivery.pk))
    _audit(delivery.endpoint, actor, f"delivery {delivery.pk} (position {delivery.position})", count)
    return count


@transaction.atomic
def redeliver_range(endpoint: Endpoint, *, first: int, last: int, actor: Any) -> int:
    if last < first or last - first >= MAX_RANGE:
        raise RangeTooLarge(gettext("a range of 1 to %(max)s positions") % {"max": MAX_RANGE})
    count = _reset(endpoint.deliveries.filter(position__gte=first, position__lte=last))
    with connection.cursor() as cursor:
        types = list(endpoint.event_types)
        cursor.execute(_INSERT_RANGE_SQL, [str(endpoint.pk), first, last, types, types])
        count += cursor.rowcount
    _audit(endpoint, actor, f"positions {first} to {last}", count)
    return count


@transaction.atomic
def redeliver_failures(endpoint: Endpoint, *, since: datetime, actor: Any) -> int:
    """Every delivery not delivered that had a failed attempt since ``since`` (dead ones included)."""
    failed = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), attempted_at__gte=since).filter(
        Q(status_code__isnull=True) | Q(status_code__lt=200) | Q(status_code__gte=300)
    )
    count = _reset(
        endpoint.deliveries.filter(Q(state=Delivery.State.DEAD) | Q(state=Delivery.State.PENDING)).filter(
            Exists(failed)
        )
    )
    _audit(endpoint, actor, f"failures since {since.isoformat()}", count)
    return count
