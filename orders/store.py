"""The write side's SQL, all of it: the event store (``append`` with optimistic concurrency, ``load``
with upcasting), and what a command reads or writes beside its stream in the same transaction —
products and stock, the customer, order numbers, Idempotency-Key records. Plain SQL, prepared
(``config.prepared``): every command runs several of these, and composing them through the ORM cost
more than running them (profile of the bus, bench/).

The event log's writers are never serialised by a table lock. Each append is one INSERT: the new
versions follow ``expected_version``, ``unique(stream_id, version)`` lets exactly one concurrent writer
take each version, and the statement only inserts when version ``expected_version`` already exists, so
a stream never has a hole. A losing writer gets ``ConcurrencyConflict``; as with any failed statement, the
surrounding transaction is then unusable and must be rolled back (the command bus does that, then
retries).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from django.db import IntegrityError

from config.errors import ConcurrencyConflict, InsufficientStock
from config.prepared import one_row, prepared_cursor
from orders import codec
from orders.aggregate import ProductInfo
from orders.events import Event, from_payload
from orders.models import StoredEvent

VERSION_CONSTRAINT = "event_log_stream_version_key"

# The append statements are prepared once per connection (config.prepared); casts fix their types.
# Each inserts only if version ``expected`` exists (or is 0): an append beyond the end is a conflict.

# One event, as most commands write: one row, cheaper for PostgreSQL than unnesting arrays.
_APPEND_ONE_SQL = """
INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata)
SELECT %(stream_id)s::uuid, %(expected)s::integer + 1, %(type)s::text, %(schema_version)s::smallint,
       %(payload)s::jsonb, %(metadata)s::jsonb
WHERE %(expected)s::integer = 0
   OR EXISTS (SELECT 1 FROM event_log
              WHERE stream_id = %(stream_id)s::uuid AND version = %(expected)s::integer)
RETURNING position, version, recorded_at, transaction_id::text
"""

_APPEND_MANY_SQL = """
INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata)
SELECT %(stream_id)s::uuid, %(expected)s::integer + e.ord, e.event_type, e.schema_version, e.payload,
       %(metadata)s::jsonb
FROM unnest(%(types)b::text[], %(schema_versions)b::smallint[], %(payloads)b::jsonb[])
     WITH ORDINALITY AS e(event_type, schema_version, payload, ord)
WHERE %(expected)s::integer = 0
   OR EXISTS (SELECT 1 FROM event_log
              WHERE stream_id = %(stream_id)s::uuid AND version = %(expected)s::integer)
ORDER BY e.ord
RETURNING position, version, recorded_at, transaction_id::text
"""


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: the domain event plus its place in the stream and the log."""

    stream_id: UUID
    version: int
    position: int
    event: Event
    recorded_at: datetime
    transaction_id: int
    metadata: dict[str, Any] = field(default_factory=dict)


# Django's connection hands jsonb over as text (its JSONField decodes it); load() decodes it itself.
_LOAD_SQL = """
SELECT position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at,
       transaction_id::text
FROM event_log
WHERE stream_id = %s::uuid"""


def append(
    stream_id: UUID,
    expected_version: int,
    events: Sequence[Event],
    *,
    metadata: dict[str, Any] | None = None,
) -> list[RecordedEvent]:
    """Append ``events`` after ``expected_version`` of the stream; raise ``ConcurrencyConflict`` if taken.

    Call it several times inside one ``transaction.atomic()`` to append to several streams at once.
    """
    if not events:
        return []
    metadata = metadata or {}
    # The codec seals personal fields (recovery's per-customer encryption, installed at start-up).
    payloads = [json.dumps(payload) for payload in codec.current().seal(stream_id, events)]
    params: dict[str, Any] = {
        "stream_id": stream_id,
        "expected": expected_version,
        "metadata": json.dumps(metadata),
    }
    if len(events) == 1:
        sql = _APPEND_ONE_SQL
        params |= {"type": events[0].type, "schema_version": events[0].schema_version, "payload": payloads[0]}
    else:
        sql = _APPEND_MANY_SQL
        params |= {
            "types": [event.type for event in events],
            "schema_versions": [event.schema_version for event in events],
            "payloads": payloads,
        }
    try:
        with prepared_cursor() as cursor:
            cursor.execute(sql, params, prepare=True)
            rows = sorted(cursor.fetchall(), key=lambda row: row[1])  # by version
    except IntegrityError as exc:
        if _violates(exc, VERSION_CONSTRAINT):
            raise ConcurrencyConflict(
                "the order was changed by someone else", details={"expected_version": expected_version}
            ) from exc
        raise
    if len(rows) != len(events):
        raise ConcurrencyConflict(
            "the stream is not at the expected version", details={"expected_version": expected_version}
        )
    return [
        RecordedEvent(stream_id, version, position, event, recorded_at, int(xid), metadata)
        for (position, version, recorded_at, xid), event in zip(rows, events, strict=True)
    ]


def load(
    stream_id: UUID,
    *,
    up_to_version: int | None = None,
    up_to_time: datetime | None = None,
) -> list[RecordedEvent]:
    """The stream's events, oldest first, as current schema versions; optionally only a past prefix."""
    sql = _LOAD_SQL
    params: list[object] = [stream_id]
    if up_to_version is not None:
        sql, params = sql + " AND version <= %s::integer", [*params, up_to_version]
    if up_to_time is not None:
        sql, params = sql + " AND recorded_at <= %s::timestamptz", [*params, up_to_time]
    with prepared_cursor() as cursor:
        cursor.execute(sql + " ORDER BY version", params, prepare=True)
        rows = [
            EventRow(position, stream, version, kind, schema, payload, meta, at, int(xid))
            for position, stream, version, kind, schema, payload, meta, at, xid in cursor.fetchall()
        ]
    return decode_rows(rows)


class EventRow(NamedTuple):
    """An event_log row as read, without the ORM, its JSON still text: every command loads its stream and
    the projections read batches; building model instances cost more than the query, and decoding
    payloads a projector does not handle cost more than reading them (bench/ profiles)."""

    position: int
    stream_id: UUID
    version: int
    event_type: str
    schema_version: int
    payload: str  # JSON
    metadata: str  # JSON
    recorded_at: datetime
    transaction_id: int

    @classmethod
    def of(cls, stored: StoredEvent) -> EventRow:
        """The row of an ORM instance (the admin's), whose JSON fields are decoded already."""
        return cls(
            stored.position,
            stored.stream_id,
            stored.version,
            stored.event_type,
            stored.schema_version,
            json.dumps(stored.payload),
            json.dumps(stored.metadata),
            stored.recorded_at,
            stored.transaction_id,
        )


class _Payload(NamedTuple):
    """What the codec opens: a stored payload and where it was stored (its keys' associated data)."""

    stream_id: UUID
    event_type: str
    payload: dict[str, Any]


def decode_rows(
    rows: Sequence[EventRow], *, wanted: Callable[[str], bool] | None = None
) -> list[RecordedEvent]:
    """The events of ``rows`` (only the types ``wanted`` accepts), opened by the installed codec
    (personal fields decrypted, or ``ERASED`` once the customer's key is gone), then upcast to the
    current schema. The write side and the projections both read through here."""
    chosen = [row for row in rows if wanted is None or wanted(row.event_type)]
    payloads = codec.current().open(
        [_Payload(r.stream_id, r.event_type, json.loads(r.payload)) for r in chosen]
    )
    envelopes: dict[str, dict[str, Any]] = {}  # events appended together share one metadata text
    recorded = []
    for row, payload in zip(chosen, payloads, strict=True):
        if row.metadata not in envelopes:
            envelopes[row.metadata] = json.loads(row.metadata)
        recorded.append(
            RecordedEvent(
                stream_id=row.stream_id,
                version=row.version,
                position=row.position,
                event=from_payload(row.event_type, row.schema_version, payload),
                recorded_at=row.recorded_at,
                transaction_id=row.transaction_id,
                metadata=envelopes[row.metadata],
            )
        )
    return recorded


def _violates(exc: IntegrityError, constraint: str) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == constraint


# --- products and stock ------------------------------------------------------------------------------
# A reservation is a conditional UPDATE: a placement waits on the product's row lock while another
# placement of the same product commits, then re-checks the stock it sees. So the last units are never
# oversold and a hot product forms a queue instead of a retry storm. Rows are locked in sku order, so
# two placements sharing products cannot deadlock.

_PRODUCTS_SQL = "SELECT sku, name, unit_price, active FROM orders_product WHERE sku = ANY(%s::text[])"
_RESERVE_SQL = """
UPDATE orders_product SET stock_on_hand = stock_on_hand - %(quantity)s::integer
WHERE sku = %(sku)s::text AND stock_on_hand >= %(quantity)s::integer
"""
_RELEASE_SQL = "UPDATE orders_product SET stock_on_hand = stock_on_hand + %s::integer WHERE sku = %s::text"


def product_info(skus: Iterable[str]) -> dict[str, ProductInfo]:
    with prepared_cursor() as cursor:
        cursor.execute(_PRODUCTS_SQL, [list(skus)], prepare=True)
        rows = cursor.fetchall()
    return {sku: ProductInfo(sku, name, unit_price, active) for sku, name, unit_price, active in rows}


def reserve(quantities: Mapping[str, int]) -> None:
    with prepared_cursor() as cursor:
        for sku in sorted(quantities):
            cursor.execute(_RESERVE_SQL, {"sku": sku, "quantity": quantities[sku]}, prepare=True)
            if not cursor.rowcount:
                raise InsufficientStock(
                    "not enough stock to place the order", details={"lines": [f"{sku}: not enough stock"]}
                )


def release(quantities: Mapping[str, int]) -> None:
    with prepared_cursor() as cursor:
        for sku in sorted(quantities):
            cursor.execute(_RELEASE_SQL, [quantities[sku], sku], prepare=True)


# --- the customer and order numbers (every order's creation runs both) ---------------------------------

_CUSTOMER_SQL = """
SELECT u.first_name, u.last_name, u.username, u.email FROM accounts_user u
WHERE u.id = %(id)s::bigint AND u.is_active
  AND EXISTS (SELECT 1 FROM accounts_user_groups m JOIN auth_group g ON g.id = m.group_id
              WHERE m.user_id = u.id AND g.name = %(role)s::text)
"""
_ORDER_NUMBER_SQL = "SELECT nextval('order_number_seq')"


class CustomerRow(NamedTuple):
    first_name: str
    last_name: str
    username: str
    email: str


def active_customer(customer_id: int, *, role: str) -> CustomerRow | None:
    """The active user ``customer_id`` if they hold ``role``; None otherwise."""
    if not 0 < customer_id < 2**63:
        return None  # beyond a bigint key: nobody (and PostgreSQL would refuse the parameter)
    with prepared_cursor() as cursor:
        cursor.execute(_CUSTOMER_SQL, {"id": customer_id, "role": role}, prepare=True)
        row = cursor.fetchone()
    return None if row is None else CustomerRow(*row)


def next_order_number() -> int:
    with prepared_cursor() as cursor:
        cursor.execute(_ORDER_NUMBER_SQL, prepare=True)
        (number,) = one_row(cursor)
    return int(number)


# --- Idempotency-Key records (orders.api.idempotency) ------------------------------------------------

_KEY_LOCK_SQL = "SELECT pg_try_advisory_xact_lock(%s::bigint)"
_KEY_RECORD_SQL = """
SELECT id, created_at, fingerprint, status_code, response_body, response_headers
FROM orders_idempotencyrecord WHERE user_id = %s::bigint AND key = ANY(%s::text[])
"""
# A record holding a customer's address takes their personal-data lock (shared) in the same statement:
# an erasure then waits for this transaction and scrubs the record. ``lock_personal_data`` (a function
# of recovery's migrations) answers false once the customer was erased, and nothing is inserted.
_KEY_INSERT_SQL = """
INSERT INTO orders_idempotencyrecord (user_id, key, fingerprint, status_code, response_body, response_headers)
SELECT %s::bigint, %s::text, %s::text, %s::integer, %s::jsonb, %s::jsonb
WHERE lock_personal_data(%s::bigint) IS NOT FALSE
"""


class KeyRecord(NamedTuple):
    id: int
    created_at: datetime
    fingerprint: str
    status: int
    body: Any  # decoded JSON
    headers: dict[str, str]


def try_lock_key(lock_id: int) -> bool:
    """Take the key's transaction-scoped advisory lock, or answer False at once if another holds it."""
    with prepared_cursor() as cursor:
        cursor.execute(_KEY_LOCK_SQL, [lock_id], prepare=True)
        (locked,) = one_row(cursor)
    return bool(locked)


def key_record(user_id: int, keys: Sequence[str]) -> KeyRecord | None:
    """The record stored under any of ``keys`` (multi-site: the key as each site stores it)."""
    with prepared_cursor() as cursor:
        cursor.execute(_KEY_RECORD_SQL, [user_id, list(keys)], prepare=True)
        row = cursor.fetchone()
    if row is None:
        return None
    record_id, created_at, fingerprint, status, body, headers = row
    return KeyRecord(record_id, created_at, fingerprint, status, json.loads(body), json.loads(headers))


def insert_key_record(
    user_id: int,
    key: str,
    *,
    fingerprint: str,
    status: int,
    body: Any,
    headers: dict[str, str],
    personal_data_of: int | None,
) -> bool:
    """Store the answer; False (nothing stored) when ``personal_data_of`` was erased meanwhile."""
    with prepared_cursor() as cursor:
        cursor.execute(
            _KEY_INSERT_SQL,
            [user_id, key, fingerprint, status, json.dumps(body), json.dumps(headers), personal_data_of],
            prepare=True,
        )
        return cursor.rowcount > 0


# --- multi-site: which site adopted which (orders.sites) ----------------------------------------------

_ADOPTIONS_SQL = "SELECT site, adopted_by FROM orders_siteadoption"


def site_adoptions() -> dict[str, str]:
    """Lost sites whose streams another site now homes: {lost site: adopting site}."""
    with prepared_cursor() as cursor:
        cursor.execute(_ADOPTIONS_SQL, prepare=True)
        return {site: adopted_by for site, adopted_by in cursor.fetchall()}


_TRANSFER_SQL = """
INSERT INTO orders_stocktransfer (id, sku, units, from_site, to_site)
VALUES (%s::uuid, %s::text, %s::integer, %s::text, %s::text)
"""


def transfer_stock(transfer_id: UUID, sku: str, units: int, *, from_site: str, to_site: str) -> None:
    """Take ``units`` from this site's allocation and record the transfer, in the caller's transaction
    (``InsufficientStock``, nothing written, when the allocation has fewer)."""
    reserve({sku: units})
    with prepared_cursor() as cursor:
        cursor.execute(_TRANSFER_SQL, [transfer_id, sku, units, from_site, to_site], prepare=True)
