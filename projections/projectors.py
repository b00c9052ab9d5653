"""Projectors: one class per read model, a stable ``name``, a handler per event type (``@projects``).

A projector sees one batch at a time (``project``): it loads the rows the batch touches, applies each
event in order and writes the rows back in bulk. The runner commits that together with the
checkpoint, so a projector does not need to guard against seeing an event twice. Event types without
a handler are skipped without decoding them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from django.db import connection, models
from django.utils import timezone
from psycopg import sql

from orders import events as e
from orders.aggregate import fulfillment_status, payment_status
from orders.events import ERASED, CustomerDataErased, Event
from orders.statuses import OrderStatus
from orders.store import RecordedEvent
from projections.documents import DOCUMENT_COLUMNS, documents
from projections.models import CustomerOrder, CustomerStats, DailySales, OrderSummary

# An order_summary row by column name (the model's attribute names are its column names).
SummaryRow = dict[str, Any]
_SUMMARY_COLUMNS = [field.column for field in OrderSummary._meta.concrete_fields if field.column is not None]
# A batch loads the columns it folds, not the stored documents it writes anew.
_FOLDED_COLUMNS = [column for column in _SUMMARY_COLUMNS if column not in DOCUMENT_COLUMNS]


class ProjectionError(RuntimeError):
    """The log holds something this projector cannot apply (it stops the projection)."""


Handler = Callable[[Any, RecordedEvent], None]
_MARKED: dict[Handler, type[Event]] = {}  # filled by @projects, read once per class by Projector


EventT = TypeVar("EventT", bound=Event)


def projects(event_type: type[Event]) -> Callable[[Handler], Handler]:
    """Mark a projector method as the handler of ``event_type``."""

    def mark(method: Handler) -> Handler:
        _MARKED[method] = event_type
        return method

    return mark


def event_as(recorded: RecordedEvent, event_type: type[EventT]) -> EventT:
    """The recorded event as the type its handler was marked for (``@projects`` dispatches by it)."""
    if not isinstance(recorded.event, event_type):
        raise ProjectionError(f"{recorded.event.type} is not a {event_type.type_name}")
    return recorded.event


class Projector:
    name: ClassVar[str]
    tables: ClassVar[tuple[type[models.Model], ...]]
    handlers: ClassVar[dict[str, Handler]]  # by stored type name, this class's and its bases'

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {
            _MARKED[attribute].type_name: attribute
            for klass in reversed(cls.__mro__)
            for attribute in vars(klass).values()
            if callable(attribute) and attribute in _MARKED
        }

    @classmethod
    def handles(cls, event_type: str) -> bool:
        return event_type in cls.handlers

    def project(self, events: Sequence[RecordedEvent]) -> None:
        self.begin(events)
        for event in events:
            self.handlers[event.event.type](self, event)
        self.flush()

    def begin(self, events: Sequence[RecordedEvent]) -> None:
        """Load what the batch needs, in as few queries as possible."""

    def flush(self) -> None:
        """Write what the batch changed."""

    # A rebuild sets ``bulk`` while it builds its copy batch after batch: what is derived from a whole row
    # (the stored order documents) is then written once per row by ``finish_bulk``, not once per batch.
    bulk = False

    def finish_bulk(self) -> None:
        """After the bulk batches of a rebuild, on the copy: write what ``bulk`` left out."""


class OrderSummaryProjector(Projector):
    """Rows are plain dicts by column name while a batch is applied: model instances, and bulk_create's
    preparing of every value of every field one by one, cost more than applying the events."""

    name = "order_summary"
    tables = (OrderSummary,)

    def begin(self, events: Sequence[RecordedEvent]) -> None:
        self.rows: dict[UUID, SummaryRow] = _load_summaries(id__in={r.stream_id for r in events})
        self.changed: set[UUID] = set()
        # An erasure (on the customer's stream) touches every order of that customer.
        erased = {r.event.customer_id for r in events if isinstance(r.event, CustomerDataErased)}
        if erased:
            for order_id, row in _load_summaries(customer_id__in=erased).items():
                self.rows.setdefault(order_id, row)

    def flush(self) -> None:
        if self.changed:
            settled = [_settled(self.rows[order_id]) for order_id in self.changed]
            _write_summaries(settled if self.bulk else [_documented(row) for row in settled])

    def finish_bulk(self, chunk: int = 2000) -> None:
        """The stored documents of every row, once (the bulk batches wrote them as NULL)."""
        rows = OrderSummary.objects.order_by("id").values(*_FOLDED_COLUMNS)
        batch = list(rows[:chunk])
        while batch:
            _write_documents([(row["id"], documents(row)) for row in batch])  # read back: JSON as stored
            batch = list(rows.filter(id__gt=batch[-1]["id"])[:chunk])

    def project(self, events: Sequence[RecordedEvent]) -> None:
        self.begin(events)
        self._apply(events)
        self.flush()

    def fold(self, events: Sequence[RecordedEvent]) -> OrderSummary | None:
        """One order's summary from its events, in memory: past states and command responses."""
        self.rows, self.changed = {}, set()
        self._apply([event for event in events if self.handles(event.event.type)])
        row = next(iter(self.rows.values()), None)
        return None if row is None else OrderSummary(**_settled(row))

    def _apply(self, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            row = self.rows.get(event.stream_id)
            if row is not None and row["version"] >= event.version:
                continue  # already applied (the row is ahead of the checkpoint only after a rebuild swap)
            self.handlers[event.event.type](self, event)
            if event.stream_id in self.rows:
                self._touch(self.rows[event.stream_id], event)

    def _row(self, event: RecordedEvent) -> SummaryRow:
        try:
            return self.rows[event.stream_id]
        except KeyError:
            raise ProjectionError(f"{event.event.type} for unknown order {event.stream_id}") from None

    def _touch(self, row: SummaryRow, event: RecordedEvent) -> None:
        row["version"] = event.version
        row["last_position"] = event.position
        row["updated_at"] = event.recorded_at
        self.changed.add(row["id"])

    @projects(e.OrderCreated)
    def on_order_created(self, event: RecordedEvent) -> None:
        created = event_as(event, e.OrderCreated)
        # Every column: the upsert writes a missing one as NULL, not as the model's default.
        self.rows[event.stream_id] = {
            "id": event.stream_id,
            "number": created.number,
            "customer_id": created.customer_id,
            "customer_name": created.customer_name,
            "customer_email": created.customer_email,
            "status": OrderStatus.DRAFT,
            "payment_status": "",  # derived when the batch is written (_settled)
            "fulfillment_status": "",
            "currency": created.currency,
            "lines": [],
            "shipping_address": None,
            "subtotal": 0,
            "total": 0,
            "amount_paid": 0,
            "amount_refunded": 0,
            "payments": [],
            "shipments": [],
            "notes": [],
            "version": 0,
            "last_position": event.position,
            "created_at": event.recorded_at,
            "placed_at": None,
            "updated_at": event.recorded_at,
        }

    @projects(e.OrderLineAdded)
    def on_order_line_added(self, event: RecordedEvent) -> None:
        row, added = self._row(event), event_as(event, e.OrderLineAdded)
        line = _find_line(row, added.sku)
        if line is None:
            row["lines"].append(
                {
                    "sku": added.sku,
                    "name": added.name,
                    "unit_price": added.unit_price,
                    "quantity": 0,
                    "line_total": 0,
                    "shipped_quantity": 0,
                }
            )
            line = row["lines"][-1]
        line["quantity"] += added.quantity
        line["line_total"] = line["unit_price"] * line["quantity"]

    @projects(e.OrderLineQuantityChanged)
    def on_order_line_quantity_changed(self, event: RecordedEvent) -> None:
        changed = event_as(event, e.OrderLineQuantityChanged)
        line = _find_line(self._row(event), changed.sku)
        if line is not None:
            line["quantity"] = changed.quantity
            line["line_total"] = line["unit_price"] * line["quantity"]

    @projects(e.OrderLineRemoved)
    def on_order_line_removed(self, event: RecordedEvent) -> None:
        row = self._row(event)
        removed = event_as(event, e.OrderLineRemoved)
        row["lines"] = [line for line in row["lines"] if line["sku"] != removed.sku]

    @projects(e.ShippingAddressSet)
    def on_shipping_address_set(self, event: RecordedEvent) -> None:
        self._row(event)["shipping_address"] = dict(event_as(event, e.ShippingAddressSet).address)

    @projects(e.OrderPlaced)
    def on_order_placed(self, event: RecordedEvent) -> None:
        row = self._row(event)
        row["status"] = OrderStatus.PLACED
        row["placed_at"] = event.recorded_at

    @projects(e.PaymentRecorded)
    def on_payment_recorded(self, event: RecordedEvent) -> None:
        row, payment = self._row(event), event_as(event, e.PaymentRecorded)
        row["amount_paid"] += payment.amount
        row["payments"].append(
            {
                "kind": "payment",
                "amount": payment.amount,
                "reference": payment.reference,
                "at": event.recorded_at.isoformat(),
            }
        )

    @projects(e.RefundIssued)
    def on_refund_issued(self, event: RecordedEvent) -> None:
        row, refund = self._row(event), event_as(event, e.RefundIssued)
        row["amount_refunded"] += refund.amount
        row["payments"].append(
            {
                "kind": "refund",
                "amount": refund.amount,
                "reason": refund.reason,
                "at": event.recorded_at.isoformat(),
            }
        )

    @projects(e.ShipmentDispatched)
    def on_shipment_dispatched(self, event: RecordedEvent) -> None:
        row, dispatched = self._row(event), event_as(event, e.ShipmentDispatched)
        row["shipments"].append(
            {
                "id": dispatched.shipment_id,
                "lines": dict(dispatched.lines),
                "carrier": dispatched.carrier,
                "tracking_number": dispatched.tracking_number,
                "dispatched_at": event.recorded_at.isoformat(),
                "delivered_at": None,
            }
        )
        for sku, quantity in dispatched.lines.items():
            line = _find_line(row, sku)
            if line is not None:
                line["shipped_quantity"] += quantity

    @projects(e.ShipmentDelivered)
    def on_shipment_delivered(self, event: RecordedEvent) -> None:
        delivered = event_as(event, e.ShipmentDelivered)
        for shipment in self._row(event)["shipments"]:
            if shipment["id"] == delivered.shipment_id:
                shipment["delivered_at"] = event.recorded_at.isoformat()

    @projects(e.OrderCompleted)
    def on_order_completed(self, event: RecordedEvent) -> None:
        self._row(event)["status"] = OrderStatus.COMPLETED

    @projects(e.OrderCancelled)
    def on_order_cancelled(self, event: RecordedEvent) -> None:
        self._row(event)["status"] = OrderStatus.CANCELLED

    @projects(e.OrderExpired)
    def on_order_expired(self, event: RecordedEvent) -> None:
        self._row(event)["status"] = OrderStatus.EXPIRED

    @projects(e.OrderNoteAdded)
    def on_order_note_added(self, event: RecordedEvent) -> None:
        note = event_as(event, e.OrderNoteAdded)
        self._row(event)["notes"].append(
            {
                "id": note.note_id,
                "text": note.text,
                "author": event.metadata.get("actor"),
                "created_at": event.recorded_at.isoformat(),
            }
        )

    @projects(e.CustomerDataErased)
    def on_customer_data_erased(self, event: RecordedEvent) -> None:
        """The customer's key is gone, so the log now reads their personal values as ERASED: blank the
        copies here the same way (what a rebuild gives); version, totals and history stay."""
        erased = event_as(event, e.CustomerDataErased)
        for row in self.rows.values():
            if row["customer_id"] == erased.customer_id:
                row["customer_name"] = row["customer_email"] = ERASED
                if row["shipping_address"] is not None:
                    row["shipping_address"] = dict.fromkeys(row["shipping_address"], ERASED)
                self.changed.add(row["id"])


class DailySalesProjector(Projector):
    """Gross is the value of the orders placed that day; refunds are counted on the day they are issued."""

    name = "daily_sales"
    tables = (DailySales,)

    def begin(self, events: Sequence[RecordedEvent]) -> None:
        self.deltas: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])

    @projects(e.OrderPlaced)
    def on_order_placed(self, event: RecordedEvent) -> None:
        delta = self.deltas[timezone.localdate(event.recorded_at)]
        delta[0] += 1
        delta[1] += event_as(event, e.OrderPlaced).total

    @projects(e.RefundIssued)
    def on_refund_issued(self, event: RecordedEvent) -> None:
        self.deltas[timezone.localdate(event.recorded_at)][2] += event_as(event, e.RefundIssued).amount

    def flush(self) -> None:
        rows = DailySales.objects.in_bulk(self.deltas.keys())
        for day, (placed, gross, refunds) in self.deltas.items():
            row = rows.setdefault(day, DailySales(day=day))
            row.orders_placed += placed
            row.gross += gross
            row.refunds += refunds
            row.net = row.gross - row.refunds
        _upsert(DailySales, rows.values(), key="day")


class CustomerStatsProjector(Projector):
    name = "customer_stats"
    tables = (CustomerStats, CustomerOrder)

    def begin(self, events: Sequence[RecordedEvent]) -> None:
        known = CustomerOrder.objects.filter(order_id__in={r.stream_id for r in events})
        self.customer_of: dict[UUID, int] = dict(known.values_list("order_id", "customer_id"))
        self.new_orders: list[CustomerOrder] = []
        # Every customer the batch can touch, in one query (one per customer made rebuilds crawl).
        customers = {*self.customer_of.values()}
        customers |= {r.event.customer_id for r in events if isinstance(r.event, e.OrderCreated)}
        self.stats: dict[int, CustomerStats] = {}
        self.loaded = CustomerStats.objects.in_bulk(customers)

    def _stats(self, event: RecordedEvent) -> CustomerStats:
        try:
            customer_id = self.customer_of[event.stream_id]
        except KeyError:
            raise ProjectionError(f"{event.event.type} for unknown order {event.stream_id}") from None
        if customer_id not in self.stats:
            self.stats[customer_id] = self.loaded.get(customer_id) or CustomerStats(customer_id=customer_id)
        return self.stats[customer_id]

    @projects(e.OrderCreated)
    def on_order_created(self, event: RecordedEvent) -> None:
        customer_id = event_as(event, e.OrderCreated).customer_id
        self.customer_of[event.stream_id] = customer_id
        self.new_orders.append(CustomerOrder(order_id=event.stream_id, customer_id=customer_id))

    @projects(e.OrderPlaced)
    def on_order_placed(self, event: RecordedEvent) -> None:
        stats = self._stats(event)
        stats.orders_placed += 1
        stats.last_order_at = event.recorded_at

    @projects(e.PaymentRecorded)
    def on_payment_recorded(self, event: RecordedEvent) -> None:
        self._stats(event).lifetime_value += event_as(event, e.PaymentRecorded).amount

    @projects(e.RefundIssued)
    def on_refund_issued(self, event: RecordedEvent) -> None:
        self._stats(event).lifetime_value -= event_as(event, e.RefundIssued).amount

    def flush(self) -> None:
        CustomerOrder.objects.bulk_create(self.new_orders, ignore_conflicts=True)
        _upsert(CustomerStats, self.stats.values(), key="customer_id")


def _load_summaries(**lookup: Any) -> dict[UUID, SummaryRow]:
    query = OrderSummary.objects.filter(**lookup).order_by().values(*_FOLDED_COLUMNS)
    return {row["id"]: row for row in query}


def _write_summaries(rows: list[SummaryRow]) -> None:
    """One upsert for the batch, its rows bound as one JSON array: bound value by value (Django binds on
    the client, arrays element by element in Python) they cost more than PostgreSQL's work."""
    with connection.cursor() as cursor:
        cursor.execute(_summary_upsert_sql(), [json.dumps(rows, default=_json_scalar)])


def _write_documents(rows: list[tuple[UUID, dict[str, str]]]) -> None:
    """Only the stored documents of existing rows: one UPDATE, its rows bound as one JSON array (as
    ``_write_summaries`` binds them, for the same reason), the other columns untouched."""
    values = [{"id": str(order_id), **texts} for order_id, texts in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "UPDATE {table} SET document = d.document, document_without_notes = d.document_without_notes"
                " FROM json_to_recordset(%s) AS d(id uuid, document text, document_without_notes text)"
                " WHERE {table}.id = d.id"
            ).format(table=sql.Identifier(OrderSummary._meta.db_table)),
            [json.dumps(values)],
        )


@cache
def _summary_upsert_sql() -> sql.Composed:
    """The table name is left unqualified: a rebuild's search_path sends the rows to its copy."""
    key = OrderSummary._meta.pk.attname  # its column too (see SummaryRow)
    return sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s)"
        " ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(
        table=sql.Identifier(OrderSummary._meta.db_table),
        columns=sql.SQL(", ").join(map(sql.Identifier, _SUMMARY_COLUMNS)),
        key=sql.Identifier(key),
        updates=sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column))
            for column in _SUMMARY_COLUMNS
            if column != key
        ),
    )


def _json_scalar(value: Any) -> str:
    """A column value JSON has no type for, as text PostgreSQL reads back exactly."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column type of order_summary")


def _settled(row: SummaryRow) -> SummaryRow:
    """The row with its totals and statuses derived from its lines, payments and shipments: once per row
    and batch, not after every event (an erasure, which changes none of them, derives the same)."""
    row["subtotal"] = row["total"] = sum(line["line_total"] for line in row["lines"])
    row["payment_status"] = payment_status(
        total=row["total"], paid=row["amount_paid"], refunded=row["amount_refunded"]
    )
    row["fulfillment_status"] = fulfillment_status(
        quantities=[(line["quantity"], line["shipped_quantity"]) for line in row["lines"]],
        deliveries=[s["delivered_at"] is not None for s in row["shipments"]],
    )
    return row


def _documented(row: SummaryRow) -> SummaryRow:
    """The settled row with its stored API representation (projections/documents.py), built from the JSON
    columns as PostgreSQL will hold them (a datetime in a shipment becomes text), as a read would see them."""
    stored = {name: json.loads(json.dumps(row[name], default=_json_scalar)) for name in _JSON_COLUMNS}
    row.update(documents({**row, **stored}))
    return row


_JSON_COLUMNS = [
    field.attname for field in OrderSummary._meta.concrete_fields if isinstance(field, models.JSONField)
]


def _find_line(row: SummaryRow, sku: str) -> dict[str, Any] | None:
    return next((line for line in row["lines"] if line["sku"] == sku), None)


def _upsert(model: type[models.Model], rows: Iterable[models.Model], *, key: str) -> None:
    rows = list(rows)
    if rows:
        model._default_manager.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=[key],
            update_fields=[f.name for f in model._meta.concrete_fields if f.name != key],
        )


PROJECTORS: dict[str, type[Projector]] = {
    projector.name: projector
    for projector in (OrderSummaryProjector, DailySalesProjector, CustomerStatsProjector)
}
