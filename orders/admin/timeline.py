"""An order's history for its admin page: one line per event, in words, newest last."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from config.admin_base import when
from orders import events as e
from orders.admin.display import HIDDEN_NOTE, actor_labels, money
from orders.store import RecordedEvent


@dataclass(frozen=True)
class TimelineEntry:
    position: int
    version: int
    time: str
    event_type: str
    actor: str
    summary: str


def _lines(lines: dict[str, int]) -> str:
    return ", ".join(f"{quantity} x {sku}" for sku, quantity in lines.items())


_SUMMARIES: dict[type[e.Event], Callable[[Any, str], str]] = {
    e.OrderCreated: lambda ev, cur: (
        gettext("%(number)s for customer %(customer)s") % {"number": ev.number, "customer": ev.customer_id}
    ),
    e.OrderLineAdded: lambda ev, cur: (
        gettext("%(quantity)s x %(sku)s at %(price)s")
        % {"quantity": ev.quantity, "sku": ev.sku, "price": money(ev.unit_price, cur)}
    ),
    e.OrderLineQuantityChanged: lambda ev, cur: (
        gettext("%(sku)s now %(quantity)s") % {"sku": ev.sku, "quantity": ev.quantity}
    ),
    e.OrderLineRemoved: lambda ev, cur: ev.sku,
    e.ShippingAddressSet: lambda ev, cur: ", ".join(
        str(ev.address.get(key, "")) for key in ("city", "country") if ev.address.get(key)
    ),
    e.OrderPlaced: lambda ev, cur: gettext("total %(total)s") % {"total": money(ev.total, cur)},
    e.PaymentRecorded: lambda ev, cur: (
        gettext("%(amount)s, reference %(reference)s")
        % {
            "amount": money(ev.amount, cur),
            "reference": ev.reference,
        }
    ),
    e.ShipmentDispatched: lambda ev, cur: (
        gettext("shipment #%(id)s: %(lines)s by %(carrier)s (%(tracking)s)")
        % {
            "id": ev.shipment_id,
            "lines": _lines(ev.lines),
            "carrier": ev.carrier,
            "tracking": ev.tracking_number,
        }
    ),
    e.ShipmentDelivered: lambda ev, cur: gettext("shipment #%(id)s") % {"id": ev.shipment_id},
    e.OrderCancelled: lambda ev, cur: ev.reason,
    e.RefundIssued: lambda ev, cur: f"{money(ev.amount, cur)}: {ev.reason}",
    e.OrderNoteAdded: lambda ev, cur: ev.text,
    e.OrderExpired: lambda ev, cur: gettext("unpaid in time"),
}


def timeline(
    history: list[RecordedEvent],
    *,
    currency: str,
    may_see_notes: bool,
    labels: dict[str, str] | None = None,
) -> list[TimelineEntry]:
    """``labels`` are actor labels already fetched (see ``actor_labels``); fetched here if not given."""
    if labels is None:
        labels = actor_labels(r.metadata.get("actor") for r in history)
    entries = []
    for recorded in history:
        event = recorded.event
        describe = _SUMMARIES.get(type(event))
        summary = describe(event, currency) if describe else ""
        if isinstance(event, e.OrderNoteAdded) and not may_see_notes:
            summary = str(HIDDEN_NOTE)
        entries.append(
            TimelineEntry(
                position=recorded.position,
                version=recorded.version,
                time=when(recorded.recorded_at),
                event_type=event.type,
                actor=labels.get(recorded.metadata.get("actor") or "", "-"),
                summary=summary,
            )
        )
    return entries
