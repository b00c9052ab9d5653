"""The admin's order actions: which exist, who may run them, and running one through the command bus.

An action is a command with a small form. Who may run it is the permission the bus itself checks for
that command (``orders.handlers.HANDLERS``), asked of django-rules with the write-side order, so the
admin shows exactly the buttons the bus would accept; the bus checks again when the form is sent.
Running one, and refreshing the order's page afterwards, is the read side's admin
(``projections.admin.commands``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rules
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orders import commands as c
from orders import store
from orders.admin.forms import (
    CancelForm,
    CommandForm,
    DeliverForm,
    NoteForm,
    RecordPaymentForm,
    RefundForm,
    ShipForm,
)
from orders.aggregate import Order, replay
from orders.handlers import HANDLERS
from orders.statuses import OrderStatus, PaymentStatus


def _cancel_unavailable(order: Order) -> str | None:
    if order.status not in (OrderStatus.DRAFT, OrderStatus.PLACED):
        return gettext("the order is %(status)s") % {"status": order.status}
    return gettext("items have shipped") if order.anything_shipped else None


def _payment_unavailable(order: Order) -> str | None:
    if order.status != OrderStatus.PLACED:
        return gettext("the order is %(status)s") % {"status": order.status}
    return None if order.outstanding > 0 else gettext("nothing is left to pay")


def _ship_unavailable(order: Order) -> str | None:
    if order.status != OrderStatus.PLACED:
        return gettext("the order is %(status)s") % {"status": order.status}
    if order.payment_status != PaymentStatus.PAID:
        return gettext("an order ships once it is paid")
    left = any(line.quantity > line.shipped_quantity for line in order.lines.values())
    return None if left else gettext("everything has shipped")


def _deliver_unavailable(order: Order) -> str | None:
    on_the_way = any(s.delivered_at is None for s in order.shipments.values())
    return None if on_the_way else gettext("no shipment is on its way")


def _refund_unavailable(order: Order) -> str | None:
    return None if order.amount_paid > order.amount_refunded else gettext("nothing is left to refund")


@dataclass(frozen=True)
class OrderAction:
    name: str  # in the URL
    label: str | Promise
    command: type[c.Command]
    form: type[CommandForm]
    unavailable: Callable[[Order], str | None]  # why the order's state rules it out (the bus decides)
    help_text: str | Promise = ""

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
            _("Record payment"),
            c.RecordPayment,
            RecordPaymentForm,
            _payment_unavailable,
            _("Recording the same reference and amount again changes nothing."),
        ),
        OrderAction("ship", _("Ship items"), c.ShipItems, ShipForm, _ship_unavailable),
        OrderAction("deliver", _("Mark delivered"), c.MarkDelivered, DeliverForm, _deliver_unavailable),
        OrderAction(
            "refund",
            _("Refund"),
            c.IssueRefund,
            RefundForm,
            _refund_unavailable,
            _("Refunds money already paid."),
        ),
        OrderAction(
            "cancel",
            _("Cancel order"),
            c.CancelOrder,
            CancelForm,
            _cancel_unavailable,
            _("Releases the reserved stock and refunds what was paid."),
        ),
        OrderAction("note", _("Add note"), c.AddNote, NoteForm, lambda order: None),
    )
}


def actions_for(user: Any, order: Any) -> list[OrderAction]:
    """The actions this user's role may run on this order (whatever its state)."""
    return [action for action in ACTIONS.values() if action.allowed(user, order)]


def current_order(history: list[store.RecordedEvent], order_id: Any) -> Order:
    return replay(order_id, [(r.event, r.version, r.recorded_at) for r in history])
