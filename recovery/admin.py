"""Backups in the admin: a read-only list (runs are written by ``backup`` only).

Only the newest archive is judged against the RPO target, by the measured recovery point (the age of
the oldest committed event no archive holds): older archives are superseded, not late.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_base import ReadOnlyAdmin
from projections.dashboard import duration_text
from recovery.archive import ArchiveError
from recovery.models import BackupRecord
from recovery.restore import read_manifest
from recovery.status import RecoveryPoint, age_seconds, recovery_point
from recovery.tasks import scheduled_backup

logger = logging.getLogger(__name__)


MAX_VERIFIED_AT_ONCE = 5  # verifying decrypts the whole archive, in the request


@admin.action(
    description=_("Verify the selected archives (decrypt, check every checksum)"), permissions=["manage"]
)
def verify(model_admin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    records = list(queryset.order_by("-created_at")[: MAX_VERIFIED_AT_ONCE + 1])
    if len(records) > MAX_VERIFIED_AT_ONCE:
        messages.warning(
            request,
            gettext("Select at most %(count)s archives to verify at once.")
            % {
                "count": MAX_VERIFIED_AT_ONCE,
            },
        )
        return
    for record in records:
        try:
            manifest = read_manifest(Path(record.path))
        except (ArchiveError, ImproperlyConfigured) as exc:
            messages.error(
                request,
                gettext("Archive %(id)s: REFUSED: %(error)s")
                % {
                    "id": record.archive_id,
                    "error": exc,
                },
            )
        except OSError as exc:
            messages.error(
                request,
                gettext("Archive %(id)s: cannot be read (%(error)s)")
                % {
                    "id": record.archive_id,
                    "error": exc.strerror,
                },
            )
        else:
            events = manifest["events"]["count"]
            messages.success(
                request,
                gettext("Archive %(id)s: OK, %(events)s events, every checksum matches.")
                % {
                    "id": record.archive_id,
                    "events": f"{events:,}",
                },
            )


@admin.register(BackupRecord)
class BackupRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "status", "positions", "event_count", "size", "age")
    actions = [verify]
    change_list_template = "admin/recovery/backuprecord/change_list.html"

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.manage_backups")

    def get_urls(self) -> list[URLPattern]:
        back_up_now = self.admin_site.admin_view(self.back_up_now_view)
        return [
            path("back-up-now/", back_up_now, name="recovery_backuprecord_back_up_now"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        may_manage = self.has_manage_permission(request)
        return super().changelist_view(request, {**(extra_context or {}), "may_back_up": may_manage})

    def back_up_now_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a full backup (the worker takes it, as beat would); POST only, managers only."""
        if not self.has_manage_permission(request):
            raise PermissionDenied(gettext("your role may not take backups"))
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            scheduled_backup.delay(incremental=False)
        except Exception:  # the broker is down: say so instead of a 500
            logger.warning("could not queue a backup", exc_info=True)
            messages.error(request, gettext("Could not queue the backup: is the broker up?"))
        else:
            messages.success(request, gettext("Full backup queued; it appears here when it is written."))
        return HttpResponseRedirect(reverse("admin:recovery_backuprecord_changelist"))

    def get_list_display(self, request: HttpRequest) -> Any:
        """The list's columns plus the newest archive's measured RPO, measured once per page."""
        point = recovery_point()

        @admin.display(
            description=gettext("RPO now (target %(target)s)")
            % {
                "target": duration_text(settings.BACKUP_RPO_TARGET),
            }
        )
        def rpo(record: BackupRecord) -> SafeString | str:
            return _rpo_cell(point, record)

        return (*self.list_display, rpo)

    list_filter = ("kind", "status")
    search_fields = ("path", "archive_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    readonly_fields = [field.name for field in BackupRecord._meta.fields]

    @admin.display(description=_("events (transaction id, position)"))
    def positions(self, record: BackupRecord) -> str:
        if record.first_position is None:
            return gettext("none new after (%(transaction)s, %(position)s)") % {
                "transaction": record.last_transaction_id,
                "position": record.last_position,
            }
        return (
            f"({record.first_transaction_id}, {record.first_position}) - "
            f"({record.last_transaction_id}, {record.last_position})"
        )

    @admin.display(description=_("size"), ordering="size_bytes")
    def size(self, record: BackupRecord) -> str:
        return filesizeformat(record.size_bytes)

    @admin.display(description=_("age"))
    def age(self, record: BackupRecord) -> str:
        return duration_text(age_seconds(record))


def _rpo_cell(point: RecoveryPoint, record: BackupRecord) -> SafeString | str:
    if point.newest is None or record.pk != point.newest.pk:
        return ""
    if point.rpo_seconds is None:
        return format_html('<span class="errornote">{}</span>', point.problem or gettext("unknown"))
    over = point.rpo_seconds > settings.BACKUP_RPO_TARGET
    if not point.uncovered_events:
        return gettext("0 s: every committed event is in a backup")
    return format_html(
        '<span class="{}">{}</span>',
        "errornote" if over else "",
        gettext("%(duration)s: %(count)s committed event(s) in no backup")
        % {"duration": duration_text(point.rpo_seconds), "count": f"{point.uncovered_events:,}"},
    )
