"""Backups in operation: the beat task, retention, /readyz, the status API of the dashboard, the admin."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from recovery import status
from recovery.models import BackupRecord
from recovery.readiness import check_backups
from recovery.tasks import apply_retention, scheduled_backup

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_backs_up_every_interval_and_only_with_a_key() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["backup-full"]
    assert entry["task"] == "recovery.tasks.scheduled_backup"
    assert entry["schedule"] == django_settings.BACKUP_INTERVAL == 15 * 60
    assert (
        "backup-incremental" not in django_settings.CELERY_BEAT_SCHEDULE
    )  # BACKUP_INCREMENTAL_INTERVAL unset


def test_the_scheduled_backup_skips_without_a_key_and_chains_incrementals(
    settings: Any, populated: Callable[[int], None], backup_dir: Path
) -> None:
    populated(2)
    key, settings.BACKUP_ENCRYPTION_KEY = settings.BACKUP_ENCRYPTION_KEY, ""
    assert scheduled_backup(incremental=False).startswith("skipped")
    assert not BackupRecord.objects.exists()

    settings.BACKUP_ENCRYPTION_KEY = key
    scheduled_backup(incremental=True)  # nothing to chain from yet: a full one
    populated(1)
    scheduled_backup(incremental=True)
    kinds = list(BackupRecord.objects.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["full", "incremental"]
    assert all(
        Path(path).parent == backup_dir for path in BackupRecord.objects.values_list("path", flat=True)
    )


def test_retention_keeps_the_newest_full_backups_with_their_incrementals(
    populated: Callable[[int], None], backup_dir: Path
) -> None:
    populated(1)
    call_command("backup", "--no-retention", stdout=_Null(), stderr=_Null())
    call_command("backup", "--incremental", "--no-retention", stdout=_Null(), stderr=_Null())
    call_command("backup", "--no-retention", stdout=_Null(), stderr=_Null())
    call_command("backup", "--incremental", "--no-retention", stdout=_Null(), stderr=_Null())
    old_full, old_incremental, new_full, new_incremental = BackupRecord.objects.order_by("created_at", "id")

    assert apply_retention(keep=1) == 2

    assert not Path(old_full.path).exists() and not Path(old_incremental.path).exists()
    assert Path(new_full.path).exists() and Path(new_incremental.path).exists()
    assert set(BackupRecord.objects.filter(deleted_at__isnull=False)) == {old_full, old_incremental}
    assert status.last_backup() == new_incremental
    assert apply_retention(keep=1) == 0


def test_readiness_reports_the_backup_age_against_the_rpo_target(
    settings: Any, client: Client, populated: Callable[[int], None]
) -> None:
    settings.READINESS_REQUIRE_WORKER = False
    assert check_backups(budget=1.0) == {"status": "skipped", "reason": "no backup recorded yet"}
    assert status.last_backup() is None and status.backup_age_seconds() is None
    key, settings.BACKUP_ENCRYPTION_KEY = settings.BACKUP_ENCRYPTION_KEY, ""
    assert check_backups(budget=1.0) == {"status": "skipped", "reason": "no backups configured"}
    settings.BACKUP_ENCRYPTION_KEY = key

    populated(1)
    call_command("backup", stdout=_Null(), stderr=_Null())
    result = check_backups(budget=1.0)
    assert result["status"] == "ok" and result["kind"] == "full"
    assert 0 <= result["newest_backup_age_seconds"] < 60 and result["rpo_target_seconds"] == 30 * 60
    assert result["rpo_seconds"] == 0 and result["uncovered_events"] == 0
    assert 0 <= status.backup_age_seconds() < 60

    # Events committed after it, 45 minutes ago as far as their age goes: over the target.
    BackupRecord.objects.update(created_at=timezone.now() - timedelta(minutes=45))
    settings.BACKUP_RPO_TARGET = 0.5
    populated(1)
    deadline = time.monotonic() + 10
    while (result := check_backups(budget=1.0))["status"] == "ok":
        assert time.monotonic() < deadline, result
        time.sleep(0.1)
    assert "over the RPO target" in result["problems"][0] and result["uncovered_events"] > 0
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["backups"]["status"] == "fail"
    assert 2690 < status.backup_age_seconds() < 2800


def test_the_admin_lists_backups_read_only_for_managers(
    make_user: Callable[..., Any], populated: Callable[[int], None]
) -> None:
    populated(1)
    call_command("backup", stdout=_Null(), stderr=_Null())
    record = BackupRecord.objects.get()
    manager, support = make_user(Role.MANAGER), make_user(Role.SUPPORT)
    client = Client()
    client.force_login(manager)

    listing = client.get("/admin/recovery/backuprecord/")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "full" in body and "target 30 min" in body and "every committed event is in a backup" in body
    assert client.get(f"/admin/recovery/backuprecord/{record.pk}/change/").status_code == 200
    assert client.get("/admin/recovery/backuprecord/add/").status_code == 403
    assert client.post(f"/admin/recovery/backuprecord/{record.pk}/delete/").status_code == 403

    client.force_login(support)
    assert client.get("/admin/recovery/backuprecord/").status_code == 403


def test_a_manager_backs_up_now_and_verifies_from_the_admin(
    make_user: Callable[..., Any], populated: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    populated(1)
    call_command("backup", stdout=_Null(), stderr=_Null())
    record = BackupRecord.objects.get()
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(scheduled_backup, "delay", lambda **kwargs: queued.append(kwargs))
    client = Client()
    client.force_login(make_user(Role.MANAGER))

    assert 'id="back-up-now"' in client.get(BACKUPS).content.decode()
    assert client.get(f"{BACKUPS}back-up-now/").status_code == 405  # POST only
    queued_page = client.post(f"{BACKUPS}back-up-now/", follow=True)
    verified = client.post(
        BACKUPS, {"action": "verify", "index": 0, "_selected_action": [record.pk]}, follow=True
    )
    Path(record.path).write_bytes(Path(record.path).read_bytes()[:-10])  # a damaged archive
    damaged = client.post(
        BACKUPS, {"action": "verify", "index": 0, "_selected_action": [record.pk]}, follow=True
    )

    assert queued == [{"incremental": False}]
    assert "Full backup queued" in queued_page.content.decode()
    assert f"Archive {record.archive_id}: OK" in verified.content.decode()
    assert f"Archive {record.archive_id}: REFUSED" in damaged.content.decode()


def test_only_managers_back_up_from_the_admin(
    make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[Any] = []
    monkeypatch.setattr(scheduled_backup, "delay", lambda **kwargs: queued.append(kwargs))
    client = Client()
    client.force_login(make_user(Role.FINANCE))

    assert client.post(f"{BACKUPS}back-up-now/").status_code == 403
    assert queued == []


def test_a_malformed_key_fails_the_system_checks(settings: Any) -> None:
    settings.FIELD_ENCRYPTION_KEY = "too-short"
    with pytest.raises(SystemCheckError, match=r"recovery\.E001"):
        call_command("check")


BACKUPS = "/admin/recovery/backuprecord/"


class _Null:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def test_only_the_newest_backup_is_judged_and_by_what_no_backup_holds(
    make_user: Callable[..., Any], populated: Callable[[int], None], settings: Any
) -> None:
    populated(1)
    call_command("backup", stdout=_Null(), stderr=_Null())
    BackupRecord.objects.update(created_at=timezone.now() - timedelta(hours=3))
    call_command("backup", "--incremental", stdout=_Null(), stderr=_Null())
    client = Client()
    client.force_login(make_user(Role.MANAGER))
    settings.BACKUP_RPO_TARGET = 0.5

    body = client.get("/admin/recovery/backuprecord/").content.decode()
    assert "errornote" not in body  # the 3-hour-old full is superseded, not late
    dashboard = client.get("/admin/").content.decode().split('id="dashboard-backup"', 1)[1]
    assert "every event backed up" in dashboard.split("</div>", 1)[0]

    populated(1)
    deadline = time.monotonic() + 10
    while "errornote" not in (body := client.get("/admin/recovery/backuprecord/").content.decode()):
        assert time.monotonic() < deadline, "the RPO never went over the target"
        time.sleep(0.1)
    assert body.count("errornote") == 1 and "committed event(s) in no backup" in body
    tile = client.get("/admin/").content.decode().split('id="dashboard-backup"', 1)[1].split("</div>", 1)[0]
    assert "events in no backup" in tile and "late" in tile


def test_metrics_report_the_measured_rpo(client: Client, populated: Callable[[int], None]) -> None:
    populated(1)
    body = client.get("/metrics").content.decode()
    assert "backup_uncovered_events 0.0" not in body and "backup_newest_age_seconds" not in body  # no backup
    call_command("backup", stdout=_Null(), stderr=_Null())
    body = client.get("/metrics").content.decode()
    assert "backup_rpo_seconds 0.0" in body and "backup_uncovered_events 0.0" in body

    populated(1)
    deadline = time.monotonic() + 10
    while "backup_uncovered_events 0.0" in (body := client.get("/metrics").content.decode()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    uncovered = next(line for line in body.splitlines() if line.startswith("backup_uncovered_events "))
    assert float(uncovered.split()[1]) > 0
