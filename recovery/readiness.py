"""``/readyz`` check ``backups``: the measured recovery point against ``BACKUP_RPO_TARGET``.

It fails when committed events older than the target are in no archive (however recently a backup
ran), and when the newest archive cannot be the base of what this cluster commits (moved data).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from config.readiness import CheckResult, statement_timeout
from recovery.keys import backup_key_configured
from recovery.status import recovery_point


def check_backups(*, budget: float) -> CheckResult:
    if not backup_key_configured():
        return {"status": "skipped", "reason": "no backups configured"}
    with transaction.atomic():
        statement_timeout(budget)
        point = recovery_point()
    if point.newest is None:
        return {"status": "skipped", "reason": "no backup recorded yet"}
    if point.problem and not point.newest.snapshot:
        # Taken before archives recorded their snapshot: the next backup (a full one) measures again.
        return {"status": "skipped", "reason": point.problem}
    target = settings.BACKUP_RPO_TARGET
    age = point.newest_age_seconds or 0.0
    result: CheckResult = {
        "status": "ok",
        "rpo_seconds": None if point.rpo_seconds is None else round(point.rpo_seconds, 1),
        "rpo_target_seconds": target,
        "uncovered_events": point.uncovered_events,
        "oldest_uncovered_event_at": _iso(point.oldest_uncovered_at),
        "newest_uncovered_event_at": _iso(point.newest_uncovered_at),
        "newest_backup_age_seconds": round(age, 1),
        "kind": point.newest.kind,
    }
    if point.problem:
        result["status"], result["problems"] = "fail", [point.problem]
    elif point.rpo_seconds is not None and point.rpo_seconds > target:
        result["status"] = "fail"
        result["problems"] = [
            f"{point.uncovered_events:,} committed event(s) are not in any backup, the oldest for "
            f"{point.rpo_seconds:.0f}s: over the RPO target of {target:.0f}s"
        ]
    return result


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
