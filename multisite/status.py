"""The state of replication between the two sites, read from PostgreSQL's own statistics views.

Outbound (this site's changes on their way to the peer) is measured here, where it is exact: the
peer's apply worker reports what it has flushed to the WAL sender of its slot. Inbound is the peer's
outbound, measured there; here we see whether our apply worker runs and how many errors it hit
(``pg_stat_subscription_stats``), which is how a conflict shows: the worker fails on the row, restarts,
fails again, and nothing after it arrives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from multisite.replication import peer_site, subscription_name


@dataclass(frozen=True)
class Outbound:
    connected: bool  # the peer's apply worker streams from our slot
    slot_exists: bool
    bytes_behind: int  # WAL the peer has not confirmed applying
    retained_bytes: int  # WAL our slot keeps on disk for the peer
    lag_seconds: float  # the peer's replay lag as its WAL sender measures it (0 when idle)


@dataclass(frozen=True)
class Inbound:
    subscribed: bool
    enabled: bool
    worker_running: bool
    apply_error_count: int
    sync_error_count: int
    seconds_since_message: float | None


@dataclass(frozen=True)
class ReplicationStatus:
    site: str
    peer: str
    outbound: Outbound
    inbound: Inbound

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_OUTBOUND_SQL = """
SELECT s.active,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), 0)::bigint,
       coalesce(extract(epoch FROM r.replay_lag), 0)::float8
FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
WHERE s.slot_name = %s
"""

_INBOUND_SQL = """
SELECT s.subenabled, w.pid IS NOT NULL, coalesce(st.apply_error_count, 0), coalesce(st.sync_error_count, 0),
       extract(epoch FROM now() - w.last_msg_receipt_time)::float8
FROM pg_subscription s
LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid
WHERE s.subname = %s
"""


def replication_status() -> ReplicationStatus:
    peer = peer_site()
    with connection.cursor() as cursor:
        # The peer subscribes to us under our name; its slot here has that name.
        cursor.execute(_OUTBOUND_SQL, [subscription_name(settings.SITE_NAME)])
        row = cursor.fetchone()
        outbound = (
            Outbound(bool(row[0]), True, int(row[1]), int(row[2]), float(row[3]))
            if row
            else Outbound(False, False, 0, 0, 0.0)
        )
        cursor.execute(_INBOUND_SQL, [subscription_name(peer)])
        row = cursor.fetchone()
        inbound = (
            Inbound(True, bool(row[0]), bool(row[1]), int(row[2]), int(row[3]), row[4])
            if row
            else Inbound(False, False, False, 0, 0, None)
        )
    return ReplicationStatus(settings.SITE_NAME, peer, outbound, inbound)
