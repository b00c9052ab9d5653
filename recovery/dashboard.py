"""The backups' figure on the admin index (``projections.dashboard``): the measured RPO."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError

from projections.dashboard import BackupRecoveryPoint
from recovery.status import recovery_point

logger = logging.getLogger(__name__)


def backup_recovery_point() -> BackupRecoveryPoint | None:
    """What the backups would lose now, against the RPO target; None without a backup."""
    try:
        point = recovery_point()
    except DatabaseError:
        logger.warning("could not measure the backups' recovery point", exc_info=True)
        return None
    if point.newest is None:
        return None
    rpo = point.rpo_seconds
    return BackupRecoveryPoint(
        rpo_seconds=rpo,
        uncovered_events=point.uncovered_events,
        newest_age_seconds=point.newest_age_seconds or 0.0,
        late=rpo is None or rpo > settings.BACKUP_RPO_TARGET,
        problem=point.problem,
    )
