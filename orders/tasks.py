"""Scheduled work of the write side. (Expiring unpaid orders finds them in the read model, so it is the
read side's: projections.expiry.)"""

from __future__ import annotations

from celery import shared_task

from orders.api.idempotency import expire_records


@shared_task(ignore_result=True)
def expire_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than IDEMPOTENCY_KEY_TTL (24 h)."""
    return expire_records()
