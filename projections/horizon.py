"""Who holds the read side's horizon: the transaction that keeps committed events unreadable.

The runner reads events only from transactions older than ``pg_snapshot_xmin(pg_current_snapshot())``,
the oldest transaction still running anywhere on the PostgreSQL server that has a transaction id (it
wrote something; read-only transactions have none and hold nothing). That transaction may belong to any
database of the server, to a psql session left idle in a transaction, or be a prepared transaction
(two-phase commit) that its coordinator never finished. This module names it, so ``/readyz``, the admin,
the dashboard and ``/metrics`` can say *which* session holds the read side back instead of lag alone.

Only details safe to show anyone are kept: pid, database, application name, transaction start, state
and the first line of the session's last query with every literal masked. The masking matters: Django
binds parameters on the client by default, so the statement text PostgreSQL records carries the values
themselves (names, e-mail addresses, addresses). The role needs ``pg_read_all_stats`` (or ``pg_monitor``)
to see sessions of other roles; without it, such a holder is not found and only the lag shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

QUERY_SUMMARY_LENGTH = 80

# The horizon is the oldest running transaction id; its owner is a session (backend_xid) or a prepared
# transaction. With nothing running it is an id no one holds yet (so no row). xmax is no help: it is
# the newest *completed* id + 1, equal to xmin while the one running transaction is also the newest.
# Nothing here takes a transaction id itself.
_HOLDER_SQL = """
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT a.pid, a.datname, a.application_name, a.xact_start, a.state, a.query,
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8, NULL::text
FROM pg_stat_activity AS a, horizon AS h
WHERE a.backend_xid = h.xmin::xid
UNION ALL
SELECT NULL, p.database, '', p.prepared, 'prepared', '',
       extract(epoch FROM clock_timestamp() - p.prepared)::float8, p.gid
FROM pg_prepared_xacts AS p, horizon AS h
WHERE p.transaction = h.xmin::xid
LIMIT 1
"""


@dataclass(frozen=True)
class HorizonHolder:
    """The transaction holding the horizon. ``pid`` is None for a prepared transaction (``gid``)."""

    pid: int | None
    database: str
    application_name: str
    transaction_start: datetime | None
    state: str
    query: str  # first line, literals masked, truncated
    held_seconds: float
    gid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "database": self.database,
            "application_name": self.application_name,
            "transaction_start": self.transaction_start.isoformat() if self.transaction_start else None,
            "state": self.state,
            "query": self.query,
            "held_seconds": round(self.held_seconds, 1),
            **({"prepared_transaction": self.gid} if self.gid is not None else {}),
        }

    def describe(self) -> str:
        if self.gid is not None:
            who = f"prepared transaction {self.gid!r} in database {self.database}"
            what = "COMMIT PREPARED or ROLLBACK PREPARED it"
        else:
            app = f", application {self.application_name!r}" if self.application_name else ""
            who = f"pid {self.pid} (database {self.database}{app}, {self.state})"
            what = f"end it, e.g. SELECT pg_terminate_backend({self.pid})"
        query = f", last query: {self.query}" if self.query else ""
        return f"{who}, in a transaction for {self.held_seconds:.0f} s{query}; {what}"


def horizon_holder(*, min_seconds: float = 0.0) -> HorizonHolder | None:
    """The transaction holding the horizon, if it has been open at least ``min_seconds``."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLDER_SQL)
        row = cursor.fetchone()
    if row is None:
        return None
    pid, database, application, started, state, query, held, gid = row
    if held is None or held < min_seconds:
        return None
    return HorizonHolder(
        pid=pid,
        database=database or "",
        application_name=(application or "")[:64],
        transaction_start=started,
        state=state or "",
        query=query_summary(query or ""),
        held_seconds=float(held),
        gid=gid[:64] if gid is not None else None,
    )


_COMMENT = re.compile(r"/\*.*?(\*/|$)|--.*$")
_DOLLAR_QUOTED = re.compile(r"\$(?P<tag>[A-Za-z_]\w*)?\$.*?(\$(?P=tag)?\$|$)")
_STRING = re.compile(r"(?<![\w\"])[EeBbXxNn]?'(?:[^']|'')*('|$)")
_NUMBER = re.compile(r"(?<![\w$.])[-+]?\d+(\.\d+)?([eE][-+]?\d+)?\b")
_SPACE = re.compile(r"\s+")


def query_summary(query: str) -> str:
    """The first non-blank line of ``query`` with every literal and comment masked, at most 80 chars:
    ``UPDATE orders SET name = 'Ada' WHERE id = 7`` -> ``UPDATE orders SET name = ? WHERE id = ?``.
    Identifiers (tables, columns) stay: they say what the session was doing and carry no customer data."""
    line = next((part.strip() for part in query.splitlines() if part.strip()), "")
    line = _COMMENT.sub(" ", line)
    line = _DOLLAR_QUOTED.sub("?", line)
    line = _STRING.sub("?", line)
    line = _NUMBER.sub("?", line)
    line = _SPACE.sub(" ", line).strip()
    return line if len(line) <= QUERY_SUMMARY_LENGTH else line[: QUERY_SUMMARY_LENGTH - 1] + "…"
