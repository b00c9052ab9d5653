"""Re-base the read side after the data moved to another PostgreSQL cluster (``projections.guard``).

Two steps, each safe to repeat:

1. Advance this server's transaction ids past the newest one in the event log. Readers take events
   below the horizon in (transaction id, position) order; while the counter is behind the log's ids the
   log's events are above every horizon and new events would sort before them. Each committed
   transaction uses one id, so empty ones are committed until the counter passes (what a restore does).
2. Rebuild every projection from the first event (``projections.rebuild``): the checkpoints of the old
   cluster are replaced by positions in this one; the live read tables keep serving meanwhile.

One re-base at a time: a session advisory lock, which PostgreSQL releases if the process is killed.
Killed half-way, a second run continues: the ids already burnt stay burnt, a rebuild starts again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection
from psycopg import sql

from projections import guard
from projections.projectors import PROJECTORS
from projections.rebuild import rebuild

Progress = Callable[[str], None]
# Past two billion ids, committing empty transactions takes hours; pg_resetwal is the tool then.
MAX_XID_ADVANCE = 2**31
XID_BATCH = 100_000
LOCK_KEY = 0x70726F6A72656261  # "projreba": the re-base's advisory lock


class RebaseRefused(RuntimeError):
    """The re-base cannot run now; the message says why and what to do."""


@dataclass
class RebaseReport:
    transaction_ids_advanced: int = 0
    rebuilt: dict[str, int] = field(default_factory=dict)


def needs_rebase() -> list[guard.Refusal]:
    return [r for r in guard.refusals() if r.code == guard.IDS_AHEAD]


def rebase(*, progress: Progress = lambda message: None) -> RebaseReport:
    report = RebaseReport()
    with _exclusive():
        report.transaction_ids_advanced = advance_transaction_ids(progress)
        for name in PROJECTORS:
            progress(f"rebuilding {name}")
            report.rebuilt[name] = rebuild(name).events
    return report


def advance_transaction_ids(progress: Progress) -> int:
    """Commit empty transactions until this server's ids are past the event log's newest; return how
    many. Reads the counter with ``pg_snapshot_xmax`` (the newest completed id + 1), which takes none."""
    target, current = _newest_and_next()
    if target is None or current > target:
        return 0
    gap = target - current + 1
    if gap > MAX_XID_ADVANCE:
        raise RebaseRefused(
            f"the event log's transaction ids are {gap:,} ahead of this server's. Stop the server and "
            "advance it with pg_resetwal --next-transaction-id (and --epoch), then run this again"
        )
    progress(f"advancing this server's transaction ids by {gap:,} (to {target + 1})")
    advanced = 0
    while current <= target:
        step = min(XID_BATCH, target - current + 1)
        with connection.cursor() as cursor:
            # Each iteration commits a transaction that took an id (a DO block may COMMIT, outside one).
            cursor.execute(
                sql.SQL(
                    "DO $$ BEGIN FOR i IN 1..{} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$"
                ).format(sql.Literal(step))
            )
        advanced += step
        _, current = _newest_and_next()
    return advanced


def _newest_and_next() -> tuple[int | None, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT max(transaction_id)::text::bigint FROM event_log),"
            " pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        )
        newest, current = cursor.fetchone()
    return newest, current


@contextmanager
def _exclusive() -> Iterator[None]:
    if connection.in_atomic_block:
        raise RebaseRefused("run the re-base outside a transaction: it commits as it goes")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise RebaseRefused("another re-base is running; wait for it to finish")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
