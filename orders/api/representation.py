"""The order representation of SPEC §6, built straight from an order summary.

``OrderSerializer`` documents this shape (OpenAPI) and is its reference. Building the same dict here
skips DRF's per-instance field machinery (deep copies of every declared field, one serializer per
nested list), which cost more than the database in a list request (bench/ profile). Leaf values go
through the same DRF fields, so times and money read exactly alike; tests/api/test_representation.py
checks the two agree on every kind of order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from orders.api.fields import format_money

_TIME = serializers.DateTimeField()  # DRF's formatting: ISO 8601 in TIME_ZONE, "Z" for UTC


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
