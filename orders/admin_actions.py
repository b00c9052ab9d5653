"""The admin's order actions: which exist, who may run them, and running one through the command bus.

An action is a command with a small form. Who may run it is the permission the bus itself checks for
that command (``orders.handlers.HANDLERS``), asked of django-rules with the write-side order, so the
admin shows exactly the buttons the bus would accept; the bus checks again when the form is sent.

After a command the read model is refreshed synchronously, for this order's page only: the
order-summary projection is caught up in the request (bounded to about a second; the runner allows one
runner per projection, so this is safe beside the Celery worker). If that does not reach the new
events in time (the worker holds the projection, or an older transaction elsewhere keeps them
unreadable for a moment), the message says the list updates in a moment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rules
from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest

from config.errors import ApplicationError, StaleVersion
from orders import commands as c
from orders import store
from orders.admin_forms import (
    CancelForm,
    CommandForm,
    DeliverForm,
    NoteForm,
    RecordPaymentForm,
    RefundForm,
    ShipForm,
)
from orders.aggregate import Order, replay
from orders.handlers import HANDLERS, DispatchResult, dispatch
from orders.statuses import OrderStatus, PaymentStatus

logger = logging.getLogger(__name__)

# How long an admin request waits for the order-summary projection after a command (seconds).
READ_MODEL_WAIT_SECONDS = 1.0


def _cancel_unavailable(order: Order) -> str | None:
    if order.status not in (OrderStatus.DRAFT, OrderStatus.PLACED):
        return f"the order is {order.status}"
    return "items have shipped" if order.anything_shipped else None


def _payment_unavailable(order: Order) -> str | None:
    if order.status != OrderStatus.PLACED:
        return f"the order is {order.status}"
    return None if order.outstanding > 0 else "nothing is left to pay"


def _ship_unavailable(order: Order) -> str | None:
    if order.status != OrderStatus.PLACED:
        return f"the order is {order.status}"
    if order.payment_status != PaymentStatus.PAID:
        return "an order ships once it is paid"
    left = any(line.quantity > line.shipped_quantity for line in order.lines.values())
    return None if left else "everything has shipped"


def _deliver_unavailable(order: Order) -> str | None:
    on_the_way = any(s.delivered_at is None for s in order.shipments.values())
    return None if on_the_way else "no shipment is on its way"


def _refund_unavailable(order: Order) -> str | None:
    return None if order.amount_paid > order.amount_refunded else "nothing is left to refund"


@dataclass(frozen=True)
class OrderAction:
    name: str  # in the URL
    label: str
    command: type[c.Command]
    form: type[CommandForm]
    unavailable: Callable[[Order], str | None]  # why the order's state rules it out (the bus decides)
    help_text: str = ""

    @property
    def permission(self) -> str:
        return HANDLERS[self.command].permission

    def allowed(self, user: Any, order: Any) -> bool:
        return rules.has_perm(self.permission, user, order)


ACTIONS: dict[str, OrderAction] = {
    action.name: action
    for action in (
        OrderAction(
            "record-payment",
            "Record payment",
            c.RecordPayment,
            RecordPaymentForm,
            _payment_unavailable,
            "Recording the same reference and amount again changes nothing.",
        ),
        OrderAction("ship", "Ship items", c.ShipItems, ShipForm, _ship_unavailable),
        OrderAction("deliver", "Mark delivered", c.MarkDelivered, DeliverForm, _deliver_unavailable),
        OrderAction(
            "refund", "Refund", c.IssueRefund, RefundForm, _refund_unavailable, "Refunds money already paid."
        ),
        OrderAction(
            "cancel",
            "Cancel order",
            c.CancelOrder,
            CancelForm,
            _cancel_unavailable,
            "Releases the reserved stock and refunds what was paid.",
        ),
        OrderAction("note", "Add note", c.AddNote, NoteForm, lambda order: None),
    )
}


def actions_for(user: Any, order: Any) -> list[OrderAction]:
    """The actions this user's role may run on this order (whatever its state)."""
    return [action for action in ACTIONS.values() if action.allowed(user, order)]


def current_order(history: list[store.RecordedEvent], order_id: Any) -> Order:
    return replay(order_id, [(r.event, r.version, r.recorded_at) for r in history])


STALE_FORM_MESSAGE = (
    "The order changed since this form was opened (or the form was sent twice), so nothing was done. "
    "Check the order below before you submit again."
)


def run_command(
    request: HttpRequest, command: c.Command, *, label: str, number: str, seen_version: int
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
        messages.info(request, f"{label}: nothing changed on {number}; this was already done.")
        return True
    outcome = refresh_read_model(result)
    if outcome == "reached":
        messages.success(request, f"{label}: done on {number}.")
    elif outcome == "failed":
        messages.warning(
            request,
            f"{label}: done on {number}, but the order list is not updating: the order_summary "
            "projection has failed (a manager can retry it under Projections).",
        )
    else:
        messages.success(request, f"{label}: done on {number}; the list updates in a moment.")
    return True


def error_text(exc: ApplicationError) -> str:
    """``Refused (invalid_transition): payment exceeds the outstanding amount (amount: ...)``."""
    text = f"Refused ({exc.code}): {exc.message}"
    details = "; ".join(
        f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in exc.details.items()
    )
    return f"{text} ({details})" if details else text


def refresh_read_model(result: DispatchResult) -> str:
    """Catch the order-summary projection up to ``result``: "reached", "failed" or "pending"."""
    from orders.consistency import consistency_token
    from projections import runner
    from projections.projectors import OrderSummaryProjector
    from projections.status import has_reached

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
