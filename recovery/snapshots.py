"""Snapshot visibility: which events an archive holds, and which committed events no archive holds yet.

An archive records the snapshot it was read in (``pg_current_snapshot()``, as text
``xmin:xmax:xip,...``). It holds exactly the events of the transactions that snapshot sees. Whatever
commits later — also a transaction that started long before and appended lower positions — is not
visible to it, and so is taken by the next incremental and counted in the measured RPO until then.

For a committed transaction, "not visible to the snapshot" (``NOT pg_visible_in_snapshot``) means: its
id is at or above the snapshot's ``xmax``, or in its list of transactions then running (``xip``). Ids
below ``xmin`` had ended, those between ``xmin`` and ``xmax`` outside ``xip`` had too. Written that way
the condition is two look-ups in the event log's (transaction_id, position) index, however old ``xmin``
is (a transaction held open for hours anywhere on the server holds every snapshot's ``xmin`` back).

Event transaction ids are stored, not recomputed: after a logical move to another cluster (``pg_dump``,
logical replication) new transactions may get *lower* ids than an archive's snapshot, and would look
"seen" by it. :func:`chain_ahead_of_cluster` detects that by comparing the snapshot's ``xmax`` with the
current one, read with ``pg_snapshot_xmax(pg_current_snapshot())``, which assigns no transaction id.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from psycopg import sql


class SnapshotError(ValueError):
    """Text that is not a ``pg_snapshot``."""


@dataclass(frozen=True)
class Snapshot:
    text: str
    xmin: int
    xmax: int
    running: tuple[int, ...]  # xip: transactions in progress when it was taken

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        parts = text.split(":")
        if len(parts) != 3 or not all(part.isdigit() for part in parts[:2] + parts[2].split(",") if part):
            raise SnapshotError(f"not a snapshot: {text!r}")
        running = tuple(int(xid) for xid in parts[2].split(",") if xid)
        return cls(text=text, xmin=int(parts[0]), xmax=int(parts[1]), running=running)


def not_seen_by(snapshot: Snapshot) -> sql.Composed:
    """A condition on committed ``event_log`` rows: the event's transaction is not visible to ``snapshot``
    (equal to ``NOT pg_visible_in_snapshot(transaction_id, snapshot)`` for them, see above)."""
    return sql.SQL(
        "(transaction_id >= {xmax}::text::xid8 OR transaction_id = ANY({running}::text[]::xid8[]))"
    ).format(
        xmax=sql.Literal(str(snapshot.xmax)),
        running=sql.Literal([str(xid) for xid in snapshot.running]),
    )


def current_xmax() -> int:
    """The next transaction id this cluster will assign (assigns none itself)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
        return int(cursor.fetchone()[0])


def chain_ahead_of_cluster(snapshot: Snapshot) -> str | None:
    """Why ``snapshot`` cannot be the base of what this cluster commits, or None when it can."""
    current = current_xmax()
    if snapshot.xmax <= current:
        return None
    return (
        f"the newest backup's snapshot (transaction ids up to {snapshot.xmax:,}) lies ahead of this "
        f"database cluster's transaction ids ({current:,}): the data was moved to another cluster "
        "(pg_dump/pg_restore, logical replication), and events committed here would look as if that "
        "backup held them. Take a full backup (manage.py backup): it starts a new chain"
    )
