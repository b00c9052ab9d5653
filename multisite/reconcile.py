"""Re-join: the events the lost site acknowledged but never replicated, listed for reconciliation.

The lost site re-joins as a fresh copy of the survivor; its old database is kept aside and started
isolated (no replication workers, another port). This compares the old database's log with ours and
lists every event we lack — by ``(stream_id, version)`` — and every one whose place a different event
took here after the adoption (same stream and version, another command). Nothing is merged or dropped:
each entry names its command, correlation id (the client's request id) and time, for a person to
re-enter or tell the customer about.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection

_OLD_EVENTS_SQL = """
SELECT position, stream_id, version, event_type, recorded_at, metadata->>'command',
       metadata->>'command_id', metadata->>'correlation_id'
FROM event_log WHERE position > %s ORDER BY position
"""


def unreplicated(old_dsn: str, *, after_position: int = 0) -> list[dict[str, Any]]:
    with psycopg.connect(old_dsn, connect_timeout=5) as old:
        rows = old.execute(_OLD_EVENTS_SQL, [after_position]).fetchall()
    if not rows:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.stream_id, l.version, l.metadata->>'command_id'
            FROM event_log l
            JOIN unnest(%s::uuid[], %s::integer[]) AS k(stream_id, version)
              ON l.stream_id = k.stream_id AND l.version = k.version
            """,
            [[r[1] for r in rows], [r[2] for r in rows]],
        )
        here = {(stream, version): command_id for stream, version, command_id in cursor.fetchall()}
    listed = []
    for position, stream, version, kind, at, command, command_id, correlation in rows:
        present = here.get((stream, version))
        if present == command_id:
            continue
        listed.append(
            {
                "position": position,
                "stream_id": str(stream),
                "version": version,
                "event_type": kind,
                "recorded_at": at.isoformat(),
                "command": command,
                "command_id": command_id,
                "correlation_id": correlation,
                "here": "missing" if present is None else "another event took its place",
            }
        )
    return listed
