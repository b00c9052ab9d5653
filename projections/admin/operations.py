"""Sales reports and projection operations in the admin (SPEC §5: reports for finance and managers,
projections for managers). All read-only; projections have two actions, rebuild and retry."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin_base import LabelledChangeList, ReadOnlyAdmin, when
from config.errors import ApplicationError
from orders.admin.display import money
from orders.models import StoredEvent
from projections import guard, runner, tasks
from projections.horizon import horizon_holder
from projections.models import CustomerStats, DailySales, ProjectionCheckpoint
from projections.projectors import PROJECTORS
from projections.rebuild import request_rebuild, withdraw_rebuild_request
from projections.status import ProjectionStatus, projection_status

logger = logging.getLogger(__name__)


@admin.register(DailySales)
class DailySalesAdmin(ReadOnlyAdmin):
    list_display = ("day", "orders_placed", "gross_display", "refunds_display", "net_display")
    list_filter = (("day", admin.DateFieldListFilter),)
    ordering = ("-day",)
    fields = ("day", "orders_placed", "gross_display", "refunds_display", "net_display")
    readonly_fields = fields

    @admin.display(description=_("gross"), ordering="gross")
    def gross_display(self, row: DailySales) -> str:
        return money(row.gross)

    @admin.display(description=_("refunds"), ordering="refunds")
    def refunds_display(self, row: DailySales) -> str:
        return money(row.refunds)

    @admin.display(description=_("net"), ordering="net")
    def net_display(self, row: DailySales) -> str:
        return money(row.net)


@admin.register(CustomerStats)
class CustomerStatsAdmin(ReadOnlyAdmin):
    list_display = ("customer", "orders_placed", "value_display", "last_order")
    ordering = ("-lifetime_value",)
    search_fields = ("=customer_id",)
    fields = ("customer", "orders_placed", "value_display", "last_order")
    readonly_fields = fields

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[LabelledChangeList]:
        return LabelledChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return (queryset.filter(customer_id=int(term)) if term.isdigit() else queryset.none()), False

    def label_page(self, rows: list[CustomerStats]) -> None:
        names = dict(
            get_user_model()
            .objects.filter(pk__in={row.customer_id for row in rows})
            .values_list("pk", "username")
        )
        for row in rows:
            row.username = names.get(row.customer_id, "")

    @admin.display(description=_("customer"), ordering="customer_id")
    def customer(self, row: CustomerStats) -> SafeString:
        if not hasattr(row, "username"):
            self.label_page([row])
        orders = reverse("admin:projections_ordersummary_changelist") + f"?q={row.customer_id}"
        return format_html('<a href="{}">{} (id {})</a>', orders, row.username or "?", row.customer_id)

    @admin.display(description=_("lifetime value"), ordering="lifetime_value")
    def value_display(self, row: CustomerStats) -> str:
        return money(row.lifetime_value)

    @admin.display(description=_("last order"), ordering="last_order_at")
    def last_order(self, row: CustomerStats) -> str:
        return when(row.last_order_at)


@admin.action(description=_("Rebuild from the event log (in the background)"), permissions=["manage"])
def rebuild(model_admin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    for checkpoint in queryset:
        try:
            request_rebuild(checkpoint.name)
        except ApplicationError as refused:  # already rebuilding, or stopped by an operator
            messages.error(
                request,
                gettext("Not rebuilding %(name)s: %(reason)s.")
                % {"name": checkpoint.name, "reason": refused.message},
            )
            continue
        try:
            tasks.rebuild_projection.delay(checkpoint.name)
        except Exception:  # the broker is down: say so instead of a 500
            withdraw_rebuild_request(checkpoint.name)
            logger.warning("could not queue the rebuild of %s", checkpoint.name, exc_info=True)
            messages.error(
                request,
                gettext("Could not queue the rebuild of %(name)s: is the broker up?")
                % {"name": checkpoint.name},
            )
        else:
            messages.success(
                request,
                gettext(
                    "Rebuild of %(name)s queued. The live read model keeps serving; "
                    "the rebuild position shows the progress."
                )
                % {"name": checkpoint.name},
            )


@admin.action(description=_("Retry failed projections"), permissions=["manage"])
def retry(model_admin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    failed = [cp.name for cp in queryset if cp.state == ProjectionCheckpoint.State.FAILED]
    for name in failed:
        runner.retry(name)
    if not failed:
        messages.warning(request, gettext("None of the selected projections has failed."))
        return
    try:
        tasks.nudge()
    except Exception:
        logger.warning("could not nudge the projections; beat will", exc_info=True)
    messages.success(
        request,
        gettext("Retrying %(names)s: they resume at the event they stopped at.")
        % {"names": ", ".join(failed)},
    )


REFRESH_SECONDS = 5


def newest_position() -> int:
    """The log's newest position (an index look-up): what a rebuild's position is measured against."""
    return StoredEvent.objects.aggregate(newest=Max("position"))["newest"] or 0


def rebuild_progress(position: int, newest: int) -> str:
    """``"42 % (event 4,200 of 10,000)"``. Positions, not counts: a rebuild reads in commit order, so
    the figure can run a little ahead or behind, never past 100 %."""
    if newest <= 0:
        return gettext("at event %(position)s") % {"position": f"{position:,}"}
    percent = min(100, int(100 * position / newest))
    return gettext("%(percent)s %% (event %(position)s of %(newest)s)") % {
        "percent": percent,
        "position": f"{position:,}",
        "newest": f"{newest:,}",
    }


@admin.register(ProjectionCheckpoint)
class ProjectionCheckpointAdmin(ReadOnlyAdmin):
    change_list_template = "admin/projections/projectioncheckpoint/change_list.html"
    list_display = (
        "name",
        "state_display",
        "position",
        "lag",
        "events_applied",
        "progress",
        "error",
        "updated",
    )
    actions = [rebuild, retry]
    fields = (
        "name",
        "state_display",
        "position",
        "transaction_id",
        "events_applied",
        "lag",
        "failed_position",
        "rebuild_position",
        "last_error_text",
        "updated",
    )
    readonly_fields = fields

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.manage_projections")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[LabelledChangeList]:
        return LabelledChangeList

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # While a rebuild runs the page reloads itself every few seconds to show its progress.
        rebuilding = ProjectionCheckpoint.objects.filter(state=ProjectionCheckpoint.State.REBUILDING).exists()
        extra_context = {**(extra_context or {}), "refresh_seconds": REFRESH_SECONDS if rebuilding else None}
        if self.has_view_permission(request):
            # List every projection, also one that has not run yet.
            ProjectionCheckpoint.objects.bulk_create(
                [ProjectionCheckpoint(name=name) for name in PROJECTORS], ignore_conflicts=True
            )
            if request.method == "GET":
                self._warn_about_the_horizon(request)
        return super().changelist_view(request, extra_context)

    def _warn_about_the_horizon(self, request: HttpRequest) -> None:
        """Say why the read side stands still, when it does: the runner refuses, or a transaction
        somewhere on the server has held committed events back for longer than the threshold."""
        for refusal in guard.refusals():
            messages.error(
                request, gettext("Projections refuse to run: %(reason)s") % {"reason": refusal.message}
            )
        holder = horizon_holder(min_seconds=settings.PROJECTION_HORIZON_HELD_THRESHOLD)
        if holder is not None:
            messages.warning(
                request,
                gettext("Committed events are held back by %(holder)s.") % {"holder": holder.describe()},
            )

    def label_page(self, checkpoints: list[ProjectionCheckpoint]) -> None:
        statuses = {
            s.name: s for s in projection_status([c.name for c in checkpoints if c.name in PROJECTORS])
        }
        for checkpoint in checkpoints:
            checkpoint.status = statuses.get(checkpoint.name)

    def _status(self, checkpoint: ProjectionCheckpoint) -> ProjectionStatus | None:
        if not hasattr(checkpoint, "status"):
            self.label_page([checkpoint])
        return checkpoint.status

    @admin.display(description=_("state"), ordering="state")
    def state_display(self, checkpoint: ProjectionCheckpoint) -> SafeString:
        colour = {"failed": "#ba2121", "rebuilding": "#b58500"}.get(checkpoint.state, "inherit")
        return format_html('<strong style="color: {}">{}</strong>', colour, checkpoint.state)

    @admin.display(description=_("lag"))
    def lag(self, checkpoint: ProjectionCheckpoint) -> str:
        status = self._status(checkpoint)
        if status is None:
            return "-"
        return ngettext(
            "%(events)s event, %(seconds)s s", "%(events)s events, %(seconds)s s", status.lag_events
        ) % {"events": status.lag_events, "seconds": f"{status.lag_seconds:.1f}"}

    @admin.display(description=_("rebuild"))
    def progress(self, checkpoint: ProjectionCheckpoint) -> str:
        if checkpoint.state != ProjectionCheckpoint.State.REBUILDING:
            return "-"
        if checkpoint.rebuild_position is None:
            return gettext("queued")
        return rebuild_progress(checkpoint.rebuild_position, newest_position())

    @admin.display(description=_("last error"))
    def error(self, checkpoint: ProjectionCheckpoint) -> str:
        error = checkpoint.last_error
        return (error[:80] + "…" if len(error) > 80 else error) or "-"

    @admin.display(description=_("last error"))
    def last_error_text(self, checkpoint: ProjectionCheckpoint) -> SafeString:
        return format_html('<pre class="admin-json">{}</pre>', checkpoint.last_error or "-")

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, checkpoint: ProjectionCheckpoint) -> str:
        return when(checkpoint.updated_at)
