"""The order representation of SPEC §6: one builder for command answers and reads alike.

It reads an order document: the read model's order summary, or ``WrittenOrder`` — the order as the
write side holds it after a command, with the same attribute names — so a command answers from its own
state and never folds the events a second time through the read side.

``OrderSerializer`` is the one definition of the shape: it documents it (OpenAPI), and ``compiled``
plans the representation from its fields once, so DRF's per-instance machinery (deep copies of every
declared field, one serializer per nested list), which cost more than the database in a list request
(bench/ profile), is not paid per order. tests/api/test_representation.py checks the plan gives what
the serializer gives on every kind of order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from operator import attrgetter, itemgetter
from typing import Any
from uuid import UUID

import rules
from django.conf import settings
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from orders.aggregate import Order
from orders.api.serializers import OrderSerializer
from orders.events import OrderNoteAdded, PaymentRecorded, RefundIssued
from orders.store import RecordedEvent


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
    payments: list[dict[str, Any]]  # payments and refunds, as the read model keeps them
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
            payments=[
                _money_movement(r) for r in history if isinstance(r.event, PaymentRecorded | RefundIssued)
            ],
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


def _money_movement(recorded: RecordedEvent) -> dict[str, Any]:
    """A payment or refund as the read model's ``payments`` column holds it (projections/projectors.py)."""
    event = recorded.event
    at = recorded.recorded_at.isoformat()
    if isinstance(event, PaymentRecorded):
        return {"kind": "payment", "amount": event.amount, "reference": event.reference, "at": at}
    if isinstance(event, RefundIssued):
        return {"kind": "refund", "amount": event.amount, "reason": event.reason, "at": at}
    raise TypeError(f"{event.type} is neither a payment nor a refund")


def order_representation(document: Any, *, include_notes: bool) -> dict[str, Any]:
    data = _ORDER(document)
    if not include_notes:
        del data["notes"]
    return data


Represent = Callable[[Any], Any]


def compiled(serializer: serializers.Serializer[Any]) -> Callable[[Any], dict[str, Any]]:
    """``serializer.to_representation`` for reading, planned once: the same declared fields, sources and
    leaf conversions (``field.to_representation``), without DRF's per-call work. Reads attributes, or
    keys of the dicts a read-model JSON column holds; a ``None`` stays ``None``, as in DRF."""
    plan: list[tuple[str, Represent, Represent, Represent]] = []
    for name, field in serializer.fields.items():
        convert: Represent
        if isinstance(field, serializers.ListSerializer) and isinstance(field.child, serializers.Serializer):
            convert = partial(_each, compiled(field.child))
        elif isinstance(field, serializers.Serializer):
            convert = compiled(field)
        elif type(field) is serializers.DateTimeField:
            convert = _datetime_converter(field)
        else:
            convert = _PLAIN.get(type(field), field.to_representation)
        source = field.source or name
        plan.append((name, attrgetter(source), itemgetter(source), convert))

    def represent(instance: Any) -> dict[str, Any]:
        by_key = isinstance(instance, dict)
        data = {}
        for name, attribute, item, convert in plan:
            value = item(instance) if by_key else attribute(instance)
            data[name] = None if value is None else convert(value)
        return data

    return represent


# Fields whose to_representation is exactly this builtin (DRF's CharField and IntegerField, not their
# subclasses): the builtin, without a method call per value.
_PLAIN: dict[type[serializers.Field[Any, Any, Any, Any]], Represent] = {
    serializers.CharField: str,
    serializers.IntegerField: int,
}


def _datetime_converter(field: serializers.DateTimeField) -> Represent:
    """DRF's ``DateTimeField.to_representation`` for its default output (ISO 8601 in the current time
    zone, ``Z`` for UTC) without its per-call lookups: seven datetimes an order made them a third of
    the representation's cost. Anything else (a set format or time zone, a naive value) goes to DRF."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != ISO_8601 or hasattr(field, "timezone"):
        return field.to_representation
    if not settings.USE_TZ:
        return field.to_representation

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            return value
        if value.tzinfo is None or value.utcoffset() is None:
            return field.to_representation(value)
        try:
            text: str = value.astimezone(timezone.get_current_timezone()).isoformat()
        except OverflowError:  # DRF's own error for it
            return field.to_representation(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


def _each(represent: Represent, items: Any) -> list[Any]:
    return [represent(item) for item in items]


_ORDER = compiled(OrderSerializer())
