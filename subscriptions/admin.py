"""Webhooks in the admin, for managers: endpoints with their figures (pending, dead, lag), actions to
pause, resume, rotate the secret and redeliver (audited); deliveries with their attempt log, read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin_base import ReadOnlyAdmin, RoleAwareAdmin
from subscriptions import redeliver, services, ssrf, status
from subscriptions.models import Delivery, DeliveryAttempt, Endpoint, RedeliveryRequest


@admin.action(description="Pause the selected endpoints", permissions=["change"])
def pause(model_admin: Any, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
    for endpoint in queryset:
        services.set_state(endpoint, Endpoint.State.PAUSED, reason=f"paused by {request.user}")
    messages.success(request, f"Paused {len(queryset)} endpoint(s); their cursors are kept.")


@admin.action(description="Resume the selected endpoints (drain their backlog)", permissions=["change"])
def resume(model_admin: Any, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
    for endpoint in queryset:
        services.set_state(endpoint, Endpoint.State.ACTIVE)
    messages.success(request, f"Resumed {len(queryset)} endpoint(s).")


@admin.action(description="Rotate the signing secret (both sign during the overlap)", permissions=["change"])
def rotate(model_admin: Any, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
    for endpoint in queryset:
        secret = services.rotate_secret(endpoint)
        messages.warning(request, f"New secret of {endpoint.url}, shown this once: {secret}")


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("attempted_at", "status_code", "error", "duration_ms", "response_excerpt")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-attempted_at",)


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = Endpoint
        fields = ("url", "description", "event_types", "payload_version", "ordered", "max_in_flight")

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            ssrf.resolve(url)  # refused here already, not only when sending
        except ssrf.UnsafeDestination as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(Endpoint)
class EndpointAdmin(RoleAwareAdmin):
    form = EndpointForm
    list_display = (
        "url",
        "state",
        "event_types",
        "ordered",
        "pending",
        "dead",
        "lag",
        "consecutive_failures",
    )
    list_filter = ("state", "ordered")
    fields = (
        "url",
        "description",
        "event_types",
        "payload_version",
        "ordered",
        "max_in_flight",
        "state",
        "state_reason",
        "consecutive_failures",
        "previous_secret_expires_at",
    )
    readonly_fields = ("state", "state_reason", "consecutive_failures", "previous_secret_expires_at")
    actions = [pause, resume, rotate]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        self._figures = {f.endpoint_id: f for f in status.overview()}  # one query for the page
        return super().get_changelist(request, **kwargs)

    def _figure(self, endpoint: Endpoint) -> status.EndpointFigures | None:
        return getattr(self, "_figures", {}).get(endpoint.pk)

    @admin.display(description="pending")
    def pending(self, endpoint: Endpoint) -> int:
        figure = self._figure(endpoint)
        return figure.deliveries.get("pending", 0) if figure else 0

    @admin.display(description="dead")
    def dead(self, endpoint: Endpoint) -> int:
        figure = self._figure(endpoint)
        return figure.deliveries.get("dead", 0) if figure else 0

    @admin.display(description="lag (s)")
    def lag(self, endpoint: Endpoint) -> str:
        figure = self._figure(endpoint)
        return f"{figure.lag_seconds:.1f}" if figure else "-"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        made = services.create_endpoint(
            owner=request.user,
            **{name: form.cleaned_data[name] for name in form.cleaned_data if name != "state"},
        )
        obj.pk = made.pk
        messages.warning(request, f"The endpoint's signing secret, shown this once: {made.secret}")


@admin.action(description="Redeliver the selected deliveries (audited)", permissions=["redeliver"])
def redeliver_selected(model_admin: Any, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
    count = sum(redeliver.redeliver_one(delivery, actor=request.user) for delivery in queryset[:1000])
    messages.success(request, f"{count} deliveries are due again.")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "position",
        "event_type",
        "endpoint",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
    )
    list_filter = ("state", "event_type")
    search_fields = ("=position", "=stream_id")
    list_select_related = ("endpoint",)
    inlines = [AttemptInline]
    actions = [redeliver_selected]
    show_full_result_count = False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("subscriptions.redeliver"))


@admin.register(RedeliveryRequest)
class RedeliveryRequestAdmin(ReadOnlyAdmin):
    list_display = ("requested_at", "requested_by", "endpoint", "scope", "deliveries")
