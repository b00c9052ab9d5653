"""Running an admin order action: dispatch through the bus, then refresh the order's page.

The command goes through ``dispatch`` as the signed-in user, on the order version the form showed. After
it the read model is refreshed synchronously, for this order's page only: the order-summary projection
is caught up in the request (bounded to about a second; the runner allows one runner per projection,
so this is safe beside the Celery worker). If that does not reach the new events in time (the worker
holds the projection, or an older transaction elsewhere keeps them unreadable for a moment), the
message says the list updates in a moment.
"""

from __future__ import annotations

import logging
import time

from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy

from config.errors import ApplicationError, StaleVersion
from orders import commands as c
from orders.consistency import consistency_token
from orders.handlers import DispatchResult, dispatch
from projections import runner
from projections.projectors import OrderSummaryProjector
from projections.status import has_reached

logger = logging.getLogger(__name__)

# How long an admin request waits for the order-summary projection after a command (seconds).
READ_MODEL_WAIT_SECONDS = 1.0

STALE_FORM_MESSAGE = gettext_lazy(
    "The order changed since this form was opened (or the form was sent twice), so nothing was done. "
    "Check the order below before you submit again."
)


def run_admin_action(
    request: HttpRequest, command: c.Command, *, label: str | Promise, number: str, seen_version: int
) -> bool:
    """Dispatch as the signed-in user on the order version the form showed; report the outcome as
    admin messages. True if it succeeded. ``StaleVersion`` is left to the caller, which must show the
    order as it is now (after a double click, the first submission's effect)."""
    try:
        result = dispatch(command, actor=request.user, expected_version=seen_version)
    except StaleVersion:
        raise
    except ApplicationError as exc:
        messages.error(request, error_text(exc))
        return False
    if not result.events:
        messages.info(
            request,
            gettext("%(action)s: nothing changed on %(number)s; this was already done.")
            % {"action": label, "number": number},
        )
        return True
    outcome = refresh_read_model(result)
    if outcome == "reached":
        messages.success(
            request, gettext("%(action)s: done on %(number)s.") % {"action": label, "number": number}
        )
    elif outcome == "failed":
        messages.warning(
            request,
            gettext(
                "%(action)s: done on %(number)s, but the order list is not updating: the order_summary "
                "projection has failed (a manager can retry it under Projections)."
            )
            % {"action": label, "number": number},
        )
    else:
        messages.success(
            request,
            gettext("%(action)s: done on %(number)s; the list updates in a moment.")
            % {"action": label, "number": number},
        )
    return True


def error_text(exc: ApplicationError) -> str:
    """``Refused (invalid_transition): payment exceeds the outstanding amount (amount: ...)``."""
    text = gettext("Refused (%(code)s): %(message)s") % {"code": exc.code, "message": exc.message}
    details = "; ".join(
        f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in exc.details.items()
    )
    return f"{text} ({details})" if details else text


def refresh_read_model(result: DispatchResult) -> str:
    """Catch the order-summary projection up to ``result``: "reached", "failed" or "pending"."""
    token = consistency_token(result.events)
    names = [OrderSummaryProjector.name]
    deadline = time.monotonic() + READ_MODEL_WAIT_SECONDS
    try:
        while True:
            outcome, _ = runner.catch_up(OrderSummaryProjector, max_seconds=READ_MODEL_WAIT_SECONDS)
            if outcome is runner.Outcome.FAILED:
                return "failed"
            if token is None or has_reached(token, names):
                return "reached"
            if time.monotonic() >= deadline:
                return "pending"
            time.sleep(0.02)
    except DatabaseError:
        # The command is committed; only the read model is late. Beat catches it up.
        logger.warning("could not refresh the order summary after an admin command", exc_info=True)
        return "pending"
