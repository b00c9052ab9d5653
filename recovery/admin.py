"""Backups in the admin: a read-only list (runs are written by ``backup`` only), age against the RPO."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from rules.contrib.admin import ObjectPermissionsModelAdmin

from recovery.models import BackupRecord


@admin.register(BackupRecord)
class BackupRecordAdmin(ObjectPermissionsModelAdmin):
    list_display = ("created_at", "kind", "status", "positions", "event_count", "size", "age")
    list_filter = ("kind", "status")
    search_fields = ("path", "archive_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    readonly_fields = [field.name for field in BackupRecord._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

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
        size = float(record.size_bytes)
        for unit in ("B", "KB", "MB", "GB"):
            if size < 1024 or unit == "GB":
                return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
            size /= 1024
        return ""  # pragma: no cover

    @admin.display(description="age (RPO target)")
    def age(self, record: BackupRecord) -> SafeString:
        age = (timezone.now() - record.created_at).total_seconds()
        target = settings.BACKUP_RPO_TARGET
        over = record.status == BackupRecord.Status.OK and age > target
        return format_html(
            '<span class="{}">{} ({})</span>', "errornote" if over else "", _duration(age), _duration(target)
        )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
