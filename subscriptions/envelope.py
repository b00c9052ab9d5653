"""What a delivery carries: the Standard Webhooks envelope, rendered from the event when it is sent.

Rendered from the log at send time, not stored: an event's personal fields are opened by the installed
codec, so once a customer is erased they read as erased (``orders.events.ERASED``) in every delivery,
retry and replay from then on. Money is two-decimal strings, as in the API (``EventPayloadField``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid5

from django.db import connection

from orders.api.serializers import EventPayloadField
from orders.store import EventRow, RecordedEvent, decode_rows

# The event's id (webhook-id): derived from its stream and version, which are the same on every site and
# after a restore, unlike a log position; the same for every attempt and every replay.
_EVENT_IDS = UUID("5b0d7c1e-8f3a-5d2b-9e47-1a6c3f0b2d84")

_ROWS_SQL = """
SELECT position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at,
       transaction_id::text
FROM event_log WHERE position = ANY(%s::bigint[])
"""


def event_id(stream_id: UUID, version: int) -> str:
    return f"evt_{uuid5(_EVENT_IDS, f'{stream_id}/{version}').hex}"


def load_events(positions: Iterable[int]) -> dict[int, RecordedEvent]:
    """The events at ``positions``, opened and upcast like every reader's."""
    with connection.cursor() as cursor:
        cursor.execute(_ROWS_SQL, [list(positions)])
        rows = [
            EventRow(position, stream, version, kind, schema, payload, meta, at, int(xid))
            for position, stream, version, kind, schema, payload, meta, at, xid in cursor.fetchall()
        ]
    return {recorded.position: recorded for recorded in decode_rows(rows)}


def envelope(recorded: RecordedEvent, *, version: int = 1) -> dict[str, Any]:
    """The body for payload ``version`` (1, the only one so far; an endpoint pins it)."""
    return {
        "id": event_id(recorded.stream_id, recorded.version),
        "type": recorded.event.type,
        "version": version,
        "position": recorded.position,
        "stream_id": str(recorded.stream_id),
        "stream_version": recorded.version,
        "occurred_at": recorded.recorded_at.isoformat().replace("+00:00", "Z"),
        "data": EventPayloadField().to_representation(recorded.event),
    }


def body(recorded: RecordedEvent, *, version: int = 1) -> bytes:
    return json.dumps(envelope(recorded, version=version), separators=(",", ":"), default=str).encode()
