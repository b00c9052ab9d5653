"""The backup state that the admin dashboard and ``/readyz`` show."""

from __future__ import annotations

from django.utils import timezone

from recovery.models import BackupRecord


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
