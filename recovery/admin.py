"""Backups in the admin: a read-only list (runs are written by ``backup`` only).

Only the newest archive is judged against the RPO target, by the measured recovery point (the age of
the oldest committed event no archive holds): older archives are superseded, not late.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.admin_base import ReadOnlyAdmin
from projections.dashboard import duration_text
from recovery.models import BackupRecord
from recovery.status import RecoveryPoint, age_seconds, recovery_point


@admin.register(BackupRecord)
class BackupRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "status", "positions", "event_count", "size", "age")

    def get_list_display(self, request: HttpRequest) -> Any:
        """The list's columns plus the newest archive's measured RPO, measured once per page."""
        point = recovery_point()

        @admin.display(description=f"RPO now (target {duration_text(settings.BACKUP_RPO_TARGET)})")
        def rpo(record: BackupRecord) -> SafeString | str:
            return _rpo_cell(point, record)

        return (*self.list_display, rpo)

    list_filter = ("kind", "status")
    search_fields = ("path", "archive_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    readonly_fields = [field.name for field in BackupRecord._meta.fields]

    @admin.display(description="events (transaction id, position)")
    def positions(self, record: BackupRecord) -> str:
        if record.first_position is None:
            return f"none new after ({record.last_transaction_id}, {record.last_position})"
        return (
            f"({record.first_transaction_id}, {record.first_position}) - "
            f"({record.last_transaction_id}, {record.last_position})"
        )

    @admin.display(description="size", ordering="size_bytes")
    def size(self, record: BackupRecord) -> str:
        return filesizeformat(record.size_bytes)

    @admin.display(description="age")
    def age(self, record: BackupRecord) -> str:
        return duration_text(age_seconds(record))


def _rpo_cell(point: RecoveryPoint, record: BackupRecord) -> SafeString | str:
    if point.newest is None or record.pk != point.newest.pk:
        return ""
    if point.rpo_seconds is None:
        return format_html('<span class="errornote">{}</span>', point.problem or "unknown")
    over = point.rpo_seconds > settings.BACKUP_RPO_TARGET
    if not point.uncovered_events:
        return "0 s: every committed event is in a backup"
    return format_html(
        '<span class="{}">{}: {} committed event(s) in no backup</span>',
        "errornote" if over else "",
        duration_text(point.rpo_seconds),
        f"{point.uncovered_events:,}",
    )
