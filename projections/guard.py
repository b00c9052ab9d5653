"""Refuse to project when the transaction ids the read side relies on cannot be trusted.

The runner reads events in (transaction id, position) order after its checkpoint. Two situations make
that silently wrong, and in both the runner refuses to run, with a message that says what happened and
what to do (``/readyz``, the system check, the logs):

* **The data moved to another PostgreSQL cluster** by a logical copy (``pg_dump``/``pg_restore``,
  logical replication). Rows keep the transaction ids of the old cluster, the new cluster counts from
  its own, lower, number: every new event sorts *behind* the checkpoints and would never be projected,
  while lag reads 0. Detected when a checkpoint or the log's newest event is at or beyond
  ``pg_snapshot_xmax`` (the newest completed id + 1): in one cluster every committed id is below it.
  ``manage.py rebase_projections`` recovers. (``pg_current_xact_id()`` would also do, but it assigns a
  transaction id: a write, on every run.)
* **An orphaned prepared transaction** (two-phase commit, ``max_prepared_transactions`` > 0) holds the
  horizon until an operator commits or rolls it back; it survives restarts. Nothing in this platform
  prepares transactions, so one older than ``PROJECTION_HORIZON_HELD_THRESHOLD`` is treated as orphaned.

One prepared statement, run once per catch-up run (not per batch); it takes no transaction id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from config.prepared import one_row, prepared_cursor

logger = logging.getLogger(__name__)

REBASE_COMMAND = "manage.py rebase_projections"
IDS_AHEAD = "transaction_ids_ahead"
ORPHANED_PREPARED = "orphaned_prepared_transaction"

# The common case in one prepared statement of scalars; the details only when something is wrong.
_GUARD_SQL = """
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
       (SELECT max(transaction_id)::text::bigint FROM event_log),
       (SELECT max(transaction_id) FROM projections_projectioncheckpoint),
       current_setting('max_prepared_transactions')::int
"""
_CHECKPOINTS_AHEAD_SQL = """
SELECT name, transaction_id FROM projections_projectioncheckpoint WHERE transaction_id >= %s ORDER BY name
"""
_ORPHANED_PREPARED_SQL = """
SELECT gid, database, extract(epoch FROM clock_timestamp() - prepared)::float8 FROM pg_prepared_xacts
WHERE prepared < clock_timestamp() - make_interval(secs => %s) ORDER BY prepared
"""


@dataclass(frozen=True)
class Refusal:
    code: str  # IDS_AHEAD or ORPHANED_PREPARED
    message: str  # what happened and what to do; names no customer data


def refusals() -> list[Refusal]:
    """Why projections must not run now; empty when they may."""
    with prepared_cursor() as cursor:
        cursor.execute(_GUARD_SQL, prepare=True)
        next_id, newest_event, newest_checkpoint, max_prepared = one_row(cursor)
    found = []
    log_ahead = newest_event is not None and newest_event >= next_id
    if log_ahead or (newest_checkpoint or 0) >= next_id:
        with connection.cursor() as cursor:
            cursor.execute(_CHECKPOINTS_AHEAD_SQL, [next_id])
            ahead = [f"projection {name} at {xid}" for name, xid in cursor.fetchall()]
        if log_ahead:
            ahead.append(f"the event log's newest event at {newest_event}")
        found.append(Refusal(IDS_AHEAD, _moved_message(next_id, ahead)))
    if max_prepared > 0:  # the default 0 allows none: nothing to look for
        with connection.cursor() as cursor:
            cursor.execute(_ORPHANED_PREPARED_SQL, [settings.PROJECTION_HORIZON_HELD_THRESHOLD])
            orphans = cursor.fetchall()
        found += [_orphan(gid[:64], database, age) for gid, database, age in orphans]
    return found


_LOG_AHEAD_SQL = """
SELECT (SELECT max(transaction_id)::text::bigint FROM event_log)
       >= pg_snapshot_xmax(pg_current_snapshot())::text::bigint
"""


def log_ahead_of_server() -> bool:
    """Whether the log holds transaction ids this server has not reached: a move by a logical copy that
    no re-base followed yet. (A checkpoint alone ahead is what a rebuild repairs.)"""
    with connection.cursor() as cursor:
        cursor.execute(_LOG_AHEAD_SQL)
        return bool(cursor.fetchone()[0])


def _orphan(gid: str, database: str, age: float) -> Refusal:
    return Refusal(
        ORPHANED_PREPARED,
        f"prepared transaction {gid!r} in database {database} has held every projection back for "
        f"{age:.0f} s; nothing here prepares transactions, so its coordinator is gone. End it in that "
        f"database with COMMIT PREPARED or ROLLBACK PREPARED '{gid}' (whichever its owner intended); "
        "projections resume by themselves.",
    )


def refused() -> bool:
    """Log every refusal as an error; True when projections must not run."""
    found = refusals()
    for refusal in found:
        logger.error("projections refuse to run: %s", refusal.message)
    return bool(found)


def _moved_message(next_id: int, ahead: list[str]) -> str:
    return (
        f"transaction ids are ahead of this PostgreSQL server's ({next_id}): {', '.join(ahead)}. The data "
        "was moved here by a logical copy (pg_dump/pg_restore or logical replication), which keeps the "
        "old server's ids in the rows but not its counter, so new events would never be projected. Run "
        f"`{REBASE_COMMAND}` (it advances this server's ids past the log's and rebuilds every "
        "projection), then take a full backup (`manage.py backup`), which starts a new backup chain."
    )
