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

One query, run once per catch-up run (not per batch), and it takes no transaction id.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

REBASE_COMMAND = "manage.py rebase_projections"

_GUARD_SQL = """
WITH server AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_id)
SELECT server.next_id,
       (SELECT max(transaction_id)::text::bigint FROM event_log),
       (SELECT json_agg(json_build_array(name, transaction_id) ORDER BY name)
        FROM projections_projectioncheckpoint WHERE transaction_id >= server.next_id),
       (SELECT json_agg(json_build_array(gid, database, extract(epoch FROM clock_timestamp() - prepared))
                        ORDER BY prepared)
        FROM pg_prepared_xacts WHERE prepared < clock_timestamp() - make_interval(secs => %s))
FROM server
"""


@dataclass(frozen=True)
class Refusal:
    code: str  # "transaction_ids_ahead" or "orphaned_prepared_transaction"
    message: str  # what happened and what to do; names no customer data


def refusals() -> list[Refusal]:
    """Why projections must not run now; empty when they may."""
    with connection.cursor() as cursor:
        cursor.execute(_GUARD_SQL, [settings.PROJECTION_HORIZON_HELD_THRESHOLD])
        current, newest_event, ahead, prepared = cursor.fetchone()
    found = []
    checkpoints = _json(ahead)
    if checkpoints or (newest_event is not None and newest_event >= current):
        found.append(Refusal("transaction_ids_ahead", _moved_message(current, newest_event, checkpoints)))
    for gid, database, age in _json(prepared):
        found.append(
            Refusal(
                "orphaned_prepared_transaction",
                f"prepared transaction {gid[:64]!r} in database {database} has held every projection back "
                f"for {age:.0f} s; nothing here prepares transactions, so its coordinator is gone. End it in "
                f"that database with COMMIT PREPARED or ROLLBACK PREPARED '{gid[:64]}' (whichever its "
                "owner intended); projections resume by themselves.",
            )
        )
    return found


def refused() -> bool:
    """Log every refusal as an error; True when projections must not run."""
    found = refusals()
    for refusal in found:
        logger.error("projections refuse to run: %s", refusal.message)
    return bool(found)


def _moved_message(current: int, newest_event: int | None, checkpoints: list[list[Any]]) -> str:
    ahead = [f"projection {name} at {xid}" for name, xid in checkpoints]
    if newest_event is not None and newest_event >= current:
        ahead.append(f"the event log's newest event at {newest_event}")
    return (
        f"transaction ids are ahead of this PostgreSQL server's ({current}): {', '.join(ahead)}. The data "
        "was moved here by a logical copy (pg_dump/pg_restore or logical replication), which keeps the "
        "old server's ids in the rows but not its counter, so new events would never be projected. Run "
        f"`{REBASE_COMMAND}` (it advances this server's ids past the log's and rebuilds every "
        "projection), then take a full backup (`manage.py backup`), which starts a new backup chain."
    )


def _json(value: str | list[list[Any]] | None) -> list[list[Any]]:
    """Django has psycopg hand JSON over as text; decode it here."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else value
