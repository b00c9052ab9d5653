"""Backups in the admin: a read-only list (runs are written by ``backup`` only), age against the RPO."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html
from django.utils.safestring import SafeString
from rules.contrib.admin import ObjectPermissionsModelAdmin

from projections.dashboard import duration_text
from recovery.models import BackupRecord
from recovery.status import age_seconds


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
        return filesizeformat(record.size_bytes)

    @admin.display(description="age (RPO target)")
    def age(self, record: BackupRecord) -> SafeString:
        age = age_seconds(record)
        target = settings.BACKUP_RPO_TARGET
        over = record.status == BackupRecord.Status.OK and age > target
        return format_html(
            '<span class="{}">{} ({})</span>',
            "errornote" if over else "",
            duration_text(age),
            duration_text(target),
        )
