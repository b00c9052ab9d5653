"""Scheduled backups (Celery beat) and retention."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from recovery.backup import BackupBusy, NewChainNeeded, take_backup
from recovery.keys import backup_key_configured
from recovery.models import BackupRecord
from recovery.status import last_backup

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=False)
def scheduled_backup(incremental: bool = False) -> str:
    """A full or incremental backup into BACKUP_DIR, then retention. Does nothing without a backup key.

    Acknowledged on receipt: a backup interrupted by a dying worker is not re-run by redelivery; the
    next beat takes a fresh one. An incremental with nothing to chain from becomes a full backup, and so
    does one whose chain cannot continue (its snapshot lies ahead of this cluster's transaction ids
    after the data was moved, or records none): waiting for the next scheduled full backup would leave
    new events in no archive meanwhile.
    """
    if not backup_key_configured():
        return "skipped: BACKUP_ENCRYPTION_KEY is not set"
    if incremental and last_backup() is None:
        incremental = False
    try:
        try:
            result = take_backup(incremental=incremental)
        except NewChainNeeded as exc:
            logger.warning("%s; taking a full backup instead", exc)
            result = take_backup(incremental=False)
    except BackupBusy:
        return "skipped: another backup is running"
    removed = apply_retention()
    logger.info(
        "backup %s: %s events, %s bytes in %.1fs; %s old archives removed",
        result.manifest["kind"],
        result.manifest["events"]["count"],
        result.size_bytes,
        result.seconds,
        removed,
    )
    return str(result.path)


def apply_retention(keep: int | None = None) -> int:
    """Keep the newest ``keep`` full backups (BACKUP_RETENTION_COUNT) with the incrementals after each;
    remove older archives in BACKUP_DIR. Records stay, marked deleted, so the admin shows the history."""
    keep = settings.BACKUP_RETENTION_COUNT if keep is None else keep
    fulls = BackupRecord.objects.filter(
        kind=BackupRecord.Kind.FULL, status=BackupRecord.Status.OK, deleted_at__isnull=True
    ).order_by("-created_at", "-id")
    kept = list(fulls[:keep])
    if len(kept) < keep or not kept:
        return 0
    oldest_kept = kept[-1].created_at
    expired = BackupRecord.objects.filter(
        status=BackupRecord.Status.OK, deleted_at__isnull=True, created_at__lt=oldest_kept
    )
    backup_dir = Path(settings.BACKUP_DIR).resolve()
    removed = 0
    for record in expired:
        path = Path(record.path)
        # Only archives this platform put into BACKUP_DIR; one written elsewhere with --output is the
        # operator's to keep, though it no longer counts as a backup.
        if path.resolve().parent == backup_dir:
            path.unlink(missing_ok=True)
            removed += 1
        BackupRecord.objects.filter(pk=record.pk).update(deleted_at=timezone.now())
    return removed
