"""Endpoint operations shared by the API and the admin: create (cursor at the log's tail), rotate the
secret (both sign during the overlap), change state (resuming continues from the kept cursor)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from subscriptions import fanout, signing
from subscriptions.models import Endpoint


@transaction.atomic
def create_endpoint(*, owner: Any, **fields: Any) -> Endpoint:
    endpoint = Endpoint.objects.create(owner=owner, secret=signing.new_secret(), **fields)
    fanout.start_cursor(endpoint)  # sent what commits from now on
    return endpoint


def rotate_secret(endpoint: Endpoint, *, overlap_hours: float | None = None) -> str:
    """A new secret; the current one keeps signing beside it for the overlap."""
    hours = settings.SUBSCRIPTION_SECRET_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    new = signing.new_secret()
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        # The row's secret, not the one this request read: a rotation at the same time is not lost.
        previous_secret=F("secret"),
        previous_secret_expires_at=now + timedelta(hours=hours),
        secret=new,
        updated_at=now,
    )
    endpoint.refresh_from_db()
    return new


def reseal_secrets() -> int:
    """Seal every endpoint's secrets again under the current FIELD_ENCRYPTION_KEY: after a master-key
    rotation, before the old key leaves FIELD_ENCRYPTION_OLD_KEYS. Rows are locked while they are
    rewritten, so a secret rotated meanwhile is not overwritten with the one read before it."""
    with transaction.atomic():
        endpoints = list(Endpoint.objects.select_for_update().only("id", "secret", "previous_secret"))
        for endpoint in endpoints:
            Endpoint.objects.filter(pk=endpoint.pk).update(
                secret=endpoint.secret, previous_secret=endpoint.previous_secret
            )
    return len(endpoints)


def set_state(endpoint: Endpoint, state: str, *, reason: str = "") -> None:
    """Pause, resume or disable. Resuming clears the failure count: the breaker starts afresh, and the
    backlog (pending deliveries, and the log after the kept cursor) drains from where it stopped."""
    now = timezone.now()
    changes: dict[str, Any] = {"state": state, "state_reason": reason, "updated_at": now}
    if state == Endpoint.State.ACTIVE:
        changes["consecutive_failures"] = 0
    Endpoint.objects.filter(pk=endpoint.pk).update(**changes)
    endpoint.refresh_from_db()
