"""``/readyz`` check ``backups``: the newest backup is younger than ``BACKUP_RPO_TARGET``."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from config.readiness import CheckResult, _statement_timeout
from recovery.keys import backup_key_configured
from recovery.status import age_seconds, last_backup


def check_backups(*, budget: float) -> CheckResult:
    if not backup_key_configured():
        return {"status": "skipped", "reason": "no backups configured"}
    with transaction.atomic():
        _statement_timeout(budget)
        backup = last_backup()
    if backup is None:
        return {"status": "skipped", "reason": "no backup recorded yet"}
    age = age_seconds(backup)
    target = settings.BACKUP_RPO_TARGET
    result: CheckResult = {
        "status": "ok" if age <= target else "fail",
        "last_backup_age_seconds": round(age, 1),
        "rpo_target_seconds": target,
        "kind": backup.kind,
    }
    if age > target:
        result["problems"] = [f"the newest backup is {age:.0f}s old, over the RPO target of {target:.0f}s"]
    return result
