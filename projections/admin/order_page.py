"""What an order's admin page shows below its fields: lines, payments, shipments, notes, timeline.

Lines, payments, shipments and notes come from the read model; the timeline from the event log.
Everything is formatted here (money, times, actor names), so the template only lays it out.
"""

from __future__ import annotations

from typing import Any

from config.admin_base import when
from orders.admin.display import actor_labels, money
from orders.admin.timeline import timeline
from orders.store import RecordedEvent
from projections.models import OrderSummary


def order_sections(
    summary: OrderSummary, history: list[RecordedEvent], *, may_see_notes: bool
) -> dict[str, Any]:
    # One query names every actor on the page: the timeline's and the notes' authors.
    labels = actor_labels(
        [r.metadata.get("actor") for r in history] + [n.get("author") for n in summary.notes]
    )
    currency = summary.currency
    return {
        "lines": [
            {
                **line,
                "unit_price": money(line["unit_price"], currency),
                "line_total": money(line["line_total"], currency),
            }
            for line in summary.lines
        ],
        "payments": [
            {
                "kind": payment["kind"],
                "amount": money(payment["amount"], currency),
                "at": when(payment["at"]),
                "detail": payment.get("reference") or payment.get("reason", ""),
            }
            for payment in summary.payments
        ],
        "shipments": [
            {
                **shipment,
                "items": ", ".join(f"{quantity} x {sku}" for sku, quantity in shipment["lines"].items()),
                "dispatched_at": when(shipment["dispatched_at"]),
                "delivered_at": when(shipment["delivered_at"]) if shipment["delivered_at"] else "",
            }
            for shipment in summary.shipments
        ],
        "may_see_notes": may_see_notes,
        "notes": [
            {**note, "author": labels.get(note.get("author"), "-"), "created_at": when(note["created_at"])}
            for note in summary.notes
        ]
        if may_see_notes
        else [],
        "timeline": timeline(history, currency=currency, may_see_notes=may_see_notes, labels=labels),
    }
