"""The order representation of SPEC §6: one builder for command answers and reads alike.

It reads an order document: the read model's order summary, or ``WrittenOrder`` — the order as the
write side holds it after a command, with the same attribute names — so a command answers from its own
state and never folds the events a second time through the read side.

``OrderSerializer`` documents this shape (OpenAPI) and is its reference. Building the same dict here
skips DRF's per-instance field machinery (deep copies of every declared field, one serializer per
nested list), which cost more than the database in a list request (bench/ profile). Leaf values go
through the same DRF fields, so times and money read exactly alike; tests/api/test_representation.py
checks the two agree on every kind of order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import rules
from rest_framework import serializers

from orders.aggregate import Order
from orders.api.fields import format_money
from orders.events import OrderNoteAdded
from orders.store import RecordedEvent

_TIME = serializers.DateTimeField()  # DRF's formatting: ISO 8601 in TIME_ZONE, "Z" for UTC


def represent(document: Any, user: Any) -> dict[str, Any]:
    """The representation for ``user``: notes only for those who may see them."""
    return order_representation(document, include_notes=rules.has_perm("orders.view_notes", user))


@dataclass(frozen=True)
class WrittenOrder:
    """An order document from the aggregate: what the read model's summary will hold once projected."""

    id: UUID
    number: str
    customer_id: int | None
    status: str
    payment_status: str
    fulfillment_status: str
    currency: str
    lines: list[dict[str, Any]]
    shipping_address: dict[str, str] | None
    subtotal: int
    total: int
    amount_paid: int
    amount_refunded: int
    shipments: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    version: int
    created_at: datetime | None
    placed_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, order: Order, history: Sequence[RecordedEvent]) -> WrittenOrder:
        """``history`` is the order's stream: a note's author is in its event's metadata."""
        authors = {
            r.event.note_id: r.metadata.get("actor") for r in history if isinstance(r.event, OrderNoteAdded)
        }
        return cls(
            id=order.id,
            number=order.number,
            customer_id=order.customer_id,
            status=order.status,
            payment_status=order.payment_status,
            fulfillment_status=order.fulfillment_status,
            currency=order.currency,
            lines=[
                {
                    "sku": line.sku,
                    "name": line.name,
                    "unit_price": line.unit_price,
                    "quantity": line.quantity,
                    "line_total": line.total,
                    "shipped_quantity": line.shipped_quantity,
                }
                for line in order.lines.values()
            ],
            shipping_address=order.shipping_address,
            subtotal=order.subtotal,
            total=order.total,
            amount_paid=order.amount_paid,
            amount_refunded=order.amount_refunded,
            shipments=[
                {
                    "id": shipment.id,
                    "lines": shipment.lines,
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "dispatched_at": shipment.dispatched_at,
                    "delivered_at": shipment.delivered_at,
                }
                for shipment in order.shipments.values()
            ],
            notes=[
                {
                    "id": note.id,
                    "text": note.text,
                    "author": authors.get(note.id),
                    "created_at": note.created_at,
                }
                for note in order.notes
            ],
            version=order.version,
            created_at=order.created_at,
            placed_at=order.placed_at,
            updated_at=order.updated_at,
        )


def order_representation(summary: Any, *, include_notes: bool) -> dict[str, Any]:
    data = {
        "id": str(summary.id),
        "number": str(summary.number),
        "customer": int(summary.customer_id),
        "status": str(summary.status),
        "payment_status": str(summary.payment_status),
        "fulfillment_status": str(summary.fulfillment_status),
        "currency": str(summary.currency),
        "lines": [_line(line) for line in summary.lines],
        "shipping_address": _address(summary.shipping_address),
        "subtotal": format_money(summary.subtotal),
        "total": format_money(summary.total),
        "amount_paid": format_money(summary.amount_paid),
        "amount_refunded": format_money(summary.amount_refunded),
        "shipments": [_shipment(shipment) for shipment in summary.shipments],
        "notes": [_note(note) for note in summary.notes],
        "version": int(summary.version),
        "created_at": _time(summary.created_at),
        "placed_at": _time(summary.placed_at),
        "updated_at": _time(summary.updated_at),
    }
    if not include_notes:
        del data["notes"]
    return data


def _line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "sku": str(line["sku"]),
        "name": str(line["name"]),
        "quantity": int(line["quantity"]),
        "unit_price": format_money(line["unit_price"]),
        "line_total": format_money(line["line_total"]),
        "shipped_quantity": int(line["shipped_quantity"]),
    }


def _address(address: dict[str, Any] | None) -> dict[str, str] | None:
    return None if address is None else {str(key): str(value) for key, value in address.items()}


def _shipment(shipment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(shipment["id"]),
        "lines": {str(sku): int(quantity) for sku, quantity in shipment["lines"].items()},
        "carrier": str(shipment["carrier"]),
        "tracking_number": str(shipment["tracking_number"]),
        "dispatched_at": _time(shipment["dispatched_at"]),
        "delivered_at": _time(shipment["delivered_at"]),
    }


def _note(note: dict[str, Any]) -> dict[str, Any]:
    author = note["author"]
    return {
        "id": int(note["id"]),
        "text": str(note["text"]),
        "author": None if author is None else str(author),
        "created_at": _time(note["created_at"]),
    }


def _time(value: datetime | str | None) -> str | None:
    """A time of a model field, or one kept as ISO 8601 text inside a JSON column."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(_TIME.to_representation(value))
