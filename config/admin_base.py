"""The base of every admin of the project: role-aware permissions (django-rules), read-only admins,
page-wise labelling, and how times are shown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateformat import format as format_date
from rules.contrib.admin import ObjectPermissionsModelAdmin

DATE_TIME_FORMAT = "Y-m-d H:i T"  # the shop's time zone, named (T)


def when(value: datetime | str | None) -> str:
    """A time in the shop's time zone, to the minute; read-model JSON holds times as ISO text."""
    if not value:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_date(timezone.localtime(value), DATE_TIME_FORMAT)


class LabelledChangeList(ChangeList):
    """Lets the admin label a whole page of results at once (``label_page``): a fixed number of
    queries per page instead of one per row."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        label_page = getattr(self.model_admin, "label_page", None)
        if label_page is not None:
            label_page(self.result_list)


class RoleAwareAdmin(ObjectPermissionsModelAdmin):
    """Asks django-rules for every permission, with the object where there is one.

    ``ObjectPermissionsModelAdmin`` checks objects but does not filter lists: a list is empty for a
    user without the view permission, and subclasses whose rows are visible one by one filter further.
    """

    class Media:
        css = {"all": ("orders/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return queryset if self.has_view_permission(request) else queryset.none()


class ReadOnlyAdmin(RoleAwareAdmin):
    """List and detail only. Read tables are written by projectors and the log by the command bus;
    refusing here as well means a superuser (to whom Django grants every model permission) cannot
    edit them either."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
