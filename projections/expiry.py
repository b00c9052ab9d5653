"""Expiring unpaid orders: a beat task that finds candidates in the read model and sends each an
ExpireOrder through the command bus, as the system actor. It lives on the read side because it reads
the read model; the aggregate re-checks every rule, so a stale candidate (paid meanwhile) is refused.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db.models.functions import Mod

from accounts.roles import SYSTEM
from config.errors import ApplicationError
from orders import handlers, sites
from orders.commands import ExpireOrder
from orders.handlers import dispatch
from orders.statuses import OrderStatus, PaymentStatus
from projections.models import OrderSummary

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def expire_unpaid_orders(limit: int = 500) -> int:
    """Send ExpireOrder, as the system, for placed orders left unpaid past ORDER_PAYMENT_TIMEOUT.

    Candidates come from the read model; the aggregate re-checks every rule, so a stale candidate
    (paid meanwhile) is simply refused.
    """
    # The bus's clock, which the aggregate re-checks the timeout by: both agree on what "now" is.
    cutoff = handlers.clock() - settings.ORDER_PAYMENT_TIMEOUT
    unpaid = OrderSummary.objects.filter(
        status=OrderStatus.PLACED, payment_status=PaymentStatus.UNPAID, placed_at__lt=cutoff
    )
    homed = sites.homed_here_filter()
    if homed is not None:  # multi-site: only orders this site is home to (others are their home's job)
        modulus, residues = homed
        unpaid = unpaid.annotate(customer_site=Mod("customer_id", modulus)).filter(customer_site__in=residues)
    candidates = unpaid.values_list("id", flat=True)[:limit]
    expired = 0
    for order_id in candidates:
        try:
            dispatch(ExpireOrder(order_id=order_id), actor=SYSTEM)
            expired += 1
        except ApplicationError as exc:
            logger.info("order %s not expired: %s", order_id, exc.message)
    return expired
