"""Which row stops the subscription: the peer's rows that have not arrived yet, checked against ours.

A conflict is a unique violation on apply (PostgreSQL 16 names the row only in its server log). The
rows the peer wrote after the last one that arrived are found by their interleaved keys (those of the
peer's residue above the largest we hold), and each is checked against the unique keys here. Nothing
is skipped or changed: ``ALTER SUBSCRIPTION ... SKIP`` is the operator's decision, after reconciling.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import sql

from multisite.replication import peer_site

LIMIT = 50

# (table, serial key, unique columns) of every replicated table with a unique constraint beside its key.
CHECKS: list[tuple[str, str, list[str]]] = [
    ("event_log", "position", ["stream_id", "version"]),
    ("orders_idempotencyrecord", "id", ["user_id", "key"]),
    ("accounts_user", "id", ["username"]),
]


def find_conflicts(peer_dsn: str, *, timeout: int = 2) -> list[dict[str, Any]]:
    """The peer's pending rows that collide with one here, table by table (at most ``LIMIT`` each)."""
    modulus = len(settings.SITES)
    peer_residue = (settings.SITES.index(peer_site()) + 1) % modulus
    found: list[dict[str, Any]] = []
    with psycopg.connect(peer_dsn, connect_timeout=timeout, autocommit=True) as peer:
        for table, key, unique in CHECKS:
            t, k = sql.Identifier(table), sql.Identifier(key)
            arrived = sql.SQL("SELECT coalesce(max({k}), 0) FROM {t} WHERE {k} %% %s = %s").format(k=k, t=t)
            with connection.cursor() as cursor:
                cursor.execute(arrived.as_string(peer), [modulus, peer_residue])
                (largest,) = cursor.fetchone()
            pending = sql.SQL(
                "SELECT {columns} FROM {t} WHERE {k} > %s AND {k} %% %s = %s ORDER BY {k} LIMIT {limit}"
            ).format(
                columns=sql.SQL(", ").join(map(sql.Identifier, [key, *unique])),
                t=t,
                k=k,
                limit=sql.Literal(LIMIT),
            )
            match = sql.SQL("SELECT {k} FROM {t} WHERE {match}").format(
                k=k,
                t=t,
                match=sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in unique),
            )
            for row in peer.execute(pending, [largest, modulus, peer_residue]).fetchall():
                with connection.cursor() as cursor:
                    cursor.execute(match.as_string(peer), list(row[1:]))
                    local = cursor.fetchone()
                if local is not None:
                    found.append(
                        {
                            "table": table,
                            # Keys only, never values that may be personal (a username is shown hidden).
                            "peer_key": row[0],
                            "local_key": local[0],
                            "unique": dict(zip(unique, map(_safe, unique, row[1:]), strict=True)),
                        }
                    )
    return found


def _safe(column: str, value: Any) -> Any:
    if column in ("username", "key"):
        return "(hidden)"
    return str(value)
