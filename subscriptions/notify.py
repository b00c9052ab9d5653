"""Tell an endpoint's owner that deliveries stopped (circuit breaker, 410): a log line and an e-mail."""

from __future__ import annotations

import logging
import uuid

from django.core.mail import send_mail
from django.db import transaction

logger = logging.getLogger(__name__)


def endpoint_stopped(endpoint_id: uuid.UUID, reason: str) -> None:
    logger.warning("webhook endpoint %s %s", endpoint_id, reason)
    transaction.on_commit(lambda: _mail(endpoint_id, reason))


def _mail(endpoint_id: uuid.UUID, reason: str) -> None:
    from subscriptions.models import Endpoint

    endpoint = Endpoint.objects.select_related("owner").filter(pk=endpoint_id).first()
    if endpoint is None or not endpoint.owner.email:
        return
    try:
        send_mail(
            subject="Webhook deliveries stopped",
            message=f"Deliveries to the endpoint {endpoint.pk} ({endpoint.url}) stopped: {reason}.\n"
            "Fix the receiver, then resume the endpoint; it continues where it stopped.",
            from_email=None,
            recipient_list=[endpoint.owner.email],
        )
    except Exception:
        logger.warning("could not e-mail the owner of webhook endpoint %s", endpoint_id, exc_info=True)
