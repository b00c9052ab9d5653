"""The event store: ``append`` with optimistic concurrency and ``load`` with upcasting.

Writers are never serialised by a table lock. Each append is one INSERT: the new versions follow
``expected_version``, ``unique(stream_id, version)`` lets exactly one concurrent writer take each
version, and the statement only inserts when version ``expected_version`` already exists, so a stream
never has a hole. A losing writer gets ``ConcurrencyConflict``; as with any failed statement, the
surrounding transaction is then unusable and must be rolled back (the command bus does that, then
retries).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from django.db import IntegrityError

from config.errors import ConcurrencyConflict
from config.prepared import prepared_cursor
from orders import codec
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
