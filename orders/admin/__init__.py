"""The write side in the admin: the event log (read-only), products, idempotency keys (read-only).

Orders themselves are shown from their read model and changed through commands: see
``projections.admin`` and ``orders.admin.actions``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.roles import STAFF_ROLES
from config.admin_base import LabelledChangeList, ReadOnlyAdmin, when
from orders import store
from orders.admin.display import actor_labels, pretty_json, visible_payload
from orders.admin.products import ProductAdmin
from orders.events import EVENT_TYPES
from orders.models import IdempotencyRecord, StoredEvent

__all__ = ["EventLogAdmin", "IdempotencyRecordAdmin", "ProductAdmin"]

admin.site.site_header = _("Order platform")
admin.site.site_title = _("Order platform admin")
# "View site" leads to the API's documentation: the platform has no shop front of its own.
admin.site.site_url = "/api/docs/"
admin.site.index_title = _("Dashboard")

ACTOR_CHOICES_LIMIT = 50  # staff users offered in the actor filter; any actor works as ?actor=user:7


class EventTypeFilter(admin.SimpleListFilter):
    """The known event types, from the registry: no DISTINCT scan of the whole log."""

    title = _("type")
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in sorted(EVENT_TYPES)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(event_type=self.value()) if self.value() else queryset


class ActorFilter(admin.SimpleListFilter):
    """Who acted: the system or a staff user. Customers act on their own orders only; filter those
    by their actor id (``?actor=user:7``), which the event detail shows."""

    title = _("actor")
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        staff = (
            get_user_model()
            .objects.filter(groups__name__in=STAFF_ROLES)
            .distinct()
            .order_by("username")
            .values_list("pk", flat=True)[:ACTOR_CHOICES_LIMIT]
        )
        actors = [f"user:{pk}" for pk in staff]
        value = self.value()
        if value and value not in [*actors, "system"]:
            actors.append(value)
        labels = actor_labels(actors)
        return [("system", gettext("system")), *((actor, labels[actor]) for actor in actors)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(metadata__actor=self.value()) if self.value() else queryset


class StreamFilter(admin.SimpleListFilter):
    """One order's events (``?stream=<order id>``); offered by the links in the order column."""

    title = _("order")
    parameter_name = "stream"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        stream = _uuid(value)
        return queryset.filter(stream_id=stream) if stream else queryset.none()


class EventChangeList(LabelledChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        # Payloads can be large and the list does not show them.
        return super().get_queryset(request, exclude_parameters).defer("payload")


@admin.register(StoredEvent)
class EventLogAdmin(ReadOnlyAdmin):
    list_display = ("position", "order", "stream", "version", "event_type", "actor", "recorded")
    list_display_links = ("position", "event_type")
    list_filter = (EventTypeFilter, ActorFilter, StreamFilter, ("recorded_at", admin.DateFieldListFilter))
    search_fields = ("stream_id",)  # the real search is get_search_results
    search_help_text = _("An order id, an order number (ORD-000042) or an event position.")
    ordering = ("-position",)
    list_per_page = 50
    show_full_result_count = False  # a second count(*) over the whole log buys nothing
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("position", "version", "schema_version"),
                    "order",
                    "stream_id",
                    "event_type",
                    "actor",
                    ("recorded", "transaction_id"),
                )
            },
        ),
        (None, {"fields": ("payload_json", "metadata_json")}),
        (_("As stored"), {"classes": ("collapse",), "fields": ("stored_payload_json",)}),
    )
    readonly_fields = (
        "position",
        "version",
        "schema_version",
        "order",
        "stream_id",
        "event_type",
        "actor",
        "recorded",
        "transaction_id",
        "payload_json",
        "metadata_json",
        "stored_payload_json",
    )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return EventChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if (stream := _uuid(term)) is not None:
            return queryset.filter(stream_id=stream), False
        if term.isdigit():
            return queryset.filter(position=int(term)), False
        streams = _created().alias(number=_NUMBER).filter(number=term.upper()).values("stream_id")
        return queryset.filter(stream_id__in=streams), False

    def label_page(self, events: list[StoredEvent]) -> None:
        """Actor names and order numbers for a page of events: two queries, whatever the page size."""
        labels = actor_labels(event.metadata.get("actor") for event in events)
        numbers = dict(
            _created().filter(stream_id__in={e.stream_id for e in events}).values_list("stream_id", _NUMBER)
        )
        for event in events:
            event.actor_label = labels.get(event.metadata.get("actor"), "-")
            event.order_number = numbers.get(event.stream_id)

    @admin.display(description=_("order"))
    def order(self, event: StoredEvent) -> str:
        if not hasattr(event, "order_number"):
            self.label_page([event])
        if event.order_number is None:
            return "-"  # not projected yet
        url = reverse("admin:projections_ordersummary_change", args=[event.stream_id])
        return format_html('<a href="{}">{}</a>', url, event.order_number)

    @admin.display(description=_("stream"))
    def stream(self, event: StoredEvent) -> SafeString:
        return format_html(
            '<a href="?stream={}" title="{}">{}…</a>',
            event.stream_id,
            gettext("Only this order's events"),
            str(event.stream_id)[:8],
        )

    @admin.display(description=_("actor"))
    def actor(self, event: StoredEvent) -> str:
        if not hasattr(event, "actor_label"):
            self.label_page([event])
        return event.actor_label

    @admin.display(description=_("time"), ordering="recorded_at")
    def recorded(self, event: StoredEvent) -> str:
        return when(event.recorded_at)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        event = super().get_object(request, object_id, from_field)
        if event is not None:
            # Display methods get no request; the payload shown depends on the viewer's role.
            event.may_see_notes = request.user.has_perm("orders.view_notes", event)
        return event

    @admin.display(description=_("payload"))
    def payload_json(self, event: StoredEvent) -> SafeString:
        """The event as the platform reads it: personal fields decrypted (or erased), current schema."""
        try:
            payload = store.decode_rows([store.EventRow.of(event)])[0].event.to_payload()
        except Exception as exc:  # a poison event: show why, the stored payload is below
            return format_html(
                "<strong>{}</strong>",
                gettext("cannot be read: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"},
            )
        may_see_notes = getattr(event, "may_see_notes", False)
        return pretty_json(visible_payload(event.event_type, payload, may_see_notes=may_see_notes))

    @admin.display(description=_("stored payload"))
    def stored_payload_json(self, event: StoredEvent) -> SafeString:
        """The row as written: schema version of its time, personal fields encrypted."""
        may_see_notes = getattr(event, "may_see_notes", False)
        return pretty_json(visible_payload(event.event_type, event.payload, may_see_notes=may_see_notes))

    @admin.display(description=_("metadata"))
    def metadata_json(self, event: StoredEvent) -> SafeString:
        return pretty_json(event.metadata)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "status_code", "created")
    list_select_related = ("user",)
    list_filter = ("status_code", ("created_at", admin.DateFieldListFilter))
    search_fields = ("key", "user__username")
    ordering = ("-created_at",)
    fields = ("user", "key", "fingerprint", "status_code", "created", "response_json", "headers_json")
    readonly_fields = fields

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, record: IdempotencyRecord) -> str:
        return when(record.created_at)

    @admin.display(description=_("response body"))
    def response_json(self, record: IdempotencyRecord) -> SafeString:
        return pretty_json(record.response_body)

    @admin.display(description=_("response headers"))
    def headers_json(self, record: IdempotencyRecord) -> SafeString:
        return pretty_json(record.response_headers)


_NUMBER = KeyTextTransform("number", "payload")  # as event_log_order_number_idx indexes it


def _created() -> QuerySet[StoredEvent]:
    """The log's OrderCreated events, where order numbers are written (the write side's own record)."""
    return StoredEvent.objects.filter(event_type="OrderCreated")


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None
