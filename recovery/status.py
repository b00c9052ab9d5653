"""The backup state that ``/readyz``, ``/metrics``, the admin dashboard and the DR drill report.

The recovery point is measured, not assumed: it is the age of the oldest committed event that no
archive holds, i.e. how far back a restore of the archives would lose writes if the database were lost
now (0 when the newest archive's chain holds the whole log). Coverage is decided by snapshot visibility
against the newest archive (``recovery.snapshots``), never by when a backup last ran: a backup that
could not see events committed meanwhile does not make them safe, and an idle shop whose log is fully
backed up has nothing at risk however old its newest archive is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone
from psycopg import sql

from recovery.models import BackupRecord
from recovery.snapshots import Snapshot, SnapshotError, chain_ahead_of_cluster, not_seen_by


def last_backup() -> BackupRecord | None:
    """The newest successful backup whose archive has not been removed by retention, or None."""
    return (
        BackupRecord.objects.filter(status=BackupRecord.Status.OK, deleted_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )


def age_seconds(backup: BackupRecord) -> float:
    """Seconds since the backup's snapshot was taken."""
    return max((timezone.now() - backup.created_at).total_seconds(), 0.0)


def backup_age_seconds() -> float | None:
    """Seconds since the newest backup's snapshot was taken; None when there is no backup."""
    backup = last_backup()
    return None if backup is None else age_seconds(backup)


@dataclass(frozen=True)
class RecoveryPoint:
    """What a restore of the newest archive (with its chain) would lose if the database were lost now."""

    newest: BackupRecord | None  # None: no archive yet, so every committed event is in none
    # Age of the oldest committed event no archive holds; 0 when every committed event is in one;
    # None when it cannot be measured (the problem below).
    rpo_seconds: float | None
    uncovered_events: int
    oldest_uncovered_at: datetime | None
    problem: str | None = None
    newest_uncovered_at: datetime | None = None

    @property
    def newest_age_seconds(self) -> float | None:
        return None if self.newest is None else age_seconds(self.newest)


def recovery_point() -> RecoveryPoint:
    newest = last_backup()
    if newest is None:
        uncovered: sql.Composable = sql.SQL("TRUE")
    else:
        try:
            snapshot = Snapshot.parse(newest.snapshot)
        except SnapshotError:
            return _unmeasurable(newest, "the newest backup records no snapshot (an older version took it)")
        problem = chain_ahead_of_cluster(snapshot)
        if problem:
            return _unmeasurable(newest, problem)
        uncovered = not_seen_by(snapshot)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT count(*), min(recorded_at), max(recorded_at), now() FROM event_log WHERE {}"
            ).format(uncovered)
        )
        count, oldest, newest_uncovered, now = cursor.fetchone()
    return RecoveryPoint(
        newest=newest,
        rpo_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        uncovered_events=count,
        oldest_uncovered_at=oldest,
        newest_uncovered_at=newest_uncovered,
    )


def _unmeasurable(newest: BackupRecord, problem: str) -> RecoveryPoint:
    return RecoveryPoint(
        newest=newest, rpo_seconds=None, uncovered_events=0, oldest_uncovered_at=None, problem=problem
    )
