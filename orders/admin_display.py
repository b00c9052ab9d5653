"""How the admin shows things: money, times, JSON, actors; and the base of the read-only admins."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Q, QuerySet, Value
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html
from django.utils.safestring import SafeString
from rules.contrib.admin import ObjectPermissionsModelAdmin

from orders.api.fields import format_money

DATE_TIME_FORMAT = "Y-m-d H:i"
HIDDEN_NOTE = "(hidden: your role may not read notes)"


def money(minor_units: int | None, currency: str | None = None) -> str:
    """``1999`` -> ``"19.99 USD"``."""
    if minor_units is None:
        return "-"
    return f"{format_money(minor_units)} {currency or settings.SHOP_CURRENCY}"


def when(value: datetime | str | None) -> str:
    """A time in the shop's time zone, to the minute; read-model JSON holds times as ISO text."""
    if not value:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_date(timezone.localtime(value), DATE_TIME_FORMAT)


def pretty_json(value: Any) -> SafeString:
    return format_html('<pre class="admin-json">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


def visible_payload(event_type: str, payload: dict[str, Any], *, may_see_notes: bool) -> dict[str, Any]:
    """The payload as this viewer may see it: a note's text only for roles that may read notes."""
    if event_type == "OrderNoteAdded" and not may_see_notes:
        return {**payload, "text": HIDDEN_NOTE}
    return payload


def actor_labels(actor_ids: Iterable[str | None]) -> dict[str, str]:
    """``{"user:7": "alice (finance)"...}`` for the given metadata actors, in one query."""
    wanted = {actor for actor in actor_ids if actor}
    pks = {int(actor[5:]) for actor in wanted if actor.startswith("user:") and actor[5:].isdigit()}
    users = (
        get_user_model()
        .objects.filter(pk__in=pks)
        .annotate(roles=ArrayAgg("groups__name", filter=Q(groups__isnull=False), default=Value([])))
        .values_list("pk", "username", "roles")
    )
    labels = {actor: actor for actor in wanted}
    for pk, username, roles in users:
        labels[f"user:{pk}"] = f"{username} ({', '.join(sorted(roles))})" if roles else username
    return labels


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
