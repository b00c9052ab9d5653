"""Orders in the admin, shown from their read model and changed only through commands.

The list and the detail read ``OrderSummary`` (never edited here); the detail adds the order's event
timeline from the log. The actions (``orders.admin.actions``) are per-order pages with a small form
that dispatch a command as the signed-in user. Sales reports and projections: ``operations``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_base import LabelledChangeList, ReadOnlyAdmin, when
from config.errors import StaleVersion
from orders import store
from orders.admin.actions import ACTIONS, OrderAction, actions_for, current_order
from orders.admin.display import badge, money, order_number
from orders.statuses import ORDER_STATUSES, FulfillmentStatus, OrderStatus, PaymentStatus
from projections.admin import operations
from projections.admin.commands import STALE_FORM_MESSAGE, run_admin_action
from projections.admin.order_page import order_sections
from projections.admin.periods import probing_periods
from projections.models import OrderSummary
from projections.queries import visible_orders

__all__ = ["OrderSummaryAdmin", "operations"]

# What the list shows; the JSON columns (lines, payments ...) stay in the database.
LIST_COLUMNS = (
    "id",
    "number",
    "customer_id",
    "customer_name",
    "customer_email",
    "status",
    "payment_status",
    "fulfillment_status",
    "currency",
    "total",
    "amount_paid",
    "amount_refunded",
    "created_at",
    "placed_at",
)


class StatusFilter(admin.SimpleListFilter):
    """Order status. By default the list shows the orders staff work on: drafts (not yet placed) and
    expired orders are hidden until this filter asks for them, or for all."""

    title = _("status")
    parameter_name = "status"
    ALL = "all"
    HIDDEN_BY_DEFAULT = (OrderStatus.DRAFT, OrderStatus.EXPIRED)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (self.ALL, gettext("all, drafts and expired too")),
            *((s.value, s.value) for s in ORDER_STATUSES),
        ]

    def choices(self, changelist: Any) -> Iterator[Any]:
        for choice in super().choices(changelist):
            # Django's "All" (in the user's language) clears the filter: here, the default.
            if choice["display"] == gettext("All"):
                choice = {**choice, "display": gettext("all but drafts and expired")}
            yield choice

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == self.ALL:
            return queryset
        if value:
            return queryset.filter(status=value)
        return queryset.exclude(status__in=self.HIDDEN_BY_DEFAULT)


def choice_filter(field: str, title: str | Promise, values: Iterable[str]) -> type[admin.SimpleListFilter]:
    """A filter over a fixed set of values: no DISTINCT scan of the table to find them."""

    def lookups(self: Any, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value.replace("_", " ")) for value in values]

    def queryset(self: Any, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(**{field: self.value()}) if self.value() else queryset

    attrs = {"title": title, "parameter_name": field, "lookups": lookups, "queryset": queryset}
    return type(f"{field.title()}Filter", (admin.SimpleListFilter,), attrs)


class OrderChangeList(LabelledChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        # The date hierarchy finds its years and months from the created_at index, not every row.
        return probing_periods(super().get_queryset(request, exclude_parameters).only(*LIST_COLUMNS))


def _selected_one(action: OrderAction) -> Any:
    """A changelist action that opens the action's form for the one selected order."""

    def open_form(model_admin: OrderSummaryAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
        selected = list(queryset.values_list("id", flat=True)[:2])
        if len(selected) != 1:
            messages.warning(
                request, gettext("%(action)s: select exactly one order.") % {"action": action.label}
            )
            return None
        return HttpResponseRedirect(model_admin.action_url(selected[0], action))

    open_form.__name__ = f"open_{action.name.replace('-', '_')}"
    return open_form


@admin.register(OrderSummary)
class OrderSummaryAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "customer",
        "status_badge",
        "payment",
        "fulfillment",
        "total_display",
        "created",
    )
    list_filter = (
        StatusFilter,
        choice_filter("payment_status", _("payment status"), PaymentStatus),
        choice_filter("fulfillment_status", _("fulfillment status"), FulfillmentStatus),
        ("created_at", admin.DateFieldListFilter),
        ("placed_at", admin.DateFieldListFilter),
    )
    search_fields = ("number", "customer_name", "customer_email")
    search_help_text = _(
        "Order number (236, ord-236 or ORD-000236), customer name, e-mail or id, shipping name or city, "
        "payment reference, or an order id."
    )
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False
    change_form_template = "admin/projections/ordersummary/change_form.html"
    fieldsets = (
        # The states as the list's badges, not their raw values.
        (None, {"fields": ("number", "customer", ("status_badge", "payment", "fulfillment"))}),
        (_("Money"), {"fields": (("total_display", "paid_display", "refunded_display"),)}),
        (_("Shipping address"), {"fields": ("address",)}),
        (_("Times"), {"fields": (("created", "placed", "updated"), "version")}),
    )
    readonly_fields = (
        "number",
        "customer",
        "status_badge",
        "payment",
        "fulfillment",
        "total_display",
        "paid_display",
        "refunded_display",
        "address",
        "created",
        "placed",
        "updated",
        "version",
    )

    # --- the list --------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        if not self.has_view_permission(request):
            return OrderSummary.objects.none()
        return visible_orders(request.user)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[OrderChangeList]:
        return OrderChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        try:
            return queryset.filter(id=UUID(term)), False
        except ValueError:
            pass
        found, duplicates = super().get_search_results(request, queryset, term)
        if not term:
            return found, duplicates
        found |= queryset.filter(
            Q(shipping_address__name__icontains=term)
            | Q(shipping_address__city__icontains=term)
            | Q(payments__contains=[{"reference": term}])
        )
        if (number := order_number(term)) is not None:
            found |= queryset.filter(number=number)
        if term.isdigit():
            found |= queryset.filter(customer_id=int(term))
        return found, duplicates

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """One "open the form" action per command the user's role may run at all."""
        actions = super().get_actions(request)
        for action in ACTIONS.values():
            if action.allowed(request.user, None):
                func = _selected_one(action)
                actions[func.__name__] = (func, func.__name__, format_lazy("{}…", action.label))
        return actions

    # --- columns and fields ----------------------------------------------------------------

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, order: OrderSummary) -> SafeString:
        return badge(order.status)

    @admin.display(description=_("payment"), ordering="payment_status")
    def payment(self, order: OrderSummary) -> SafeString:
        return badge(order.payment_status)

    @admin.display(description=_("fulfillment"), ordering="fulfillment_status")
    def fulfillment(self, order: OrderSummary) -> SafeString:
        return badge(order.fulfillment_status)

    @admin.display(description=_("customer"), ordering="customer_name")
    def customer(self, order: OrderSummary) -> SafeString:
        return format_html("{}<br><small>{}</small>", order.customer_name, order.customer_email)

    @admin.display(description=_("total"), ordering="total")
    def total_display(self, order: OrderSummary) -> str:
        return money(order.total, order.currency)

    @admin.display(description=_("paid"), ordering="amount_paid")
    def paid_display(self, order: OrderSummary) -> str:
        return money(order.amount_paid, order.currency)

    @admin.display(description=_("refunded"))
    def refunded_display(self, order: OrderSummary) -> str:
        return money(order.amount_refunded, order.currency)

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, order: OrderSummary) -> str:
        return when(order.created_at)

    @admin.display(description=_("placed"), ordering="placed_at")
    def placed(self, order: OrderSummary) -> str:
        return when(order.placed_at)

    @admin.display(description=_("updated"))
    def updated(self, order: OrderSummary) -> str:
        return when(order.updated_at)

    @admin.display(description=_("address"))
    def address(self, order: OrderSummary) -> SafeString:
        address = order.shipping_address or {}
        keys = ("name", "line1", "line2", "postal_code", "city", "region", "country")
        return format_html_join("", "{}<br>", ((address[k],) for k in keys if address.get(k)))

    # --- the detail page -------------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        summary = self._visible_order(request, object_id)
        history = store.load(summary.id)
        order = current_order(history, summary.id)
        may_see_notes = request.user.has_perm("orders.view_notes", summary)
        context = {
            **order_sections(summary, history, may_see_notes=may_see_notes),
            "order_actions": [
                {
                    "action": action,
                    "url": self.action_url(summary.id, action),
                    "why_not": action.unavailable(order),
                }
                for action in actions_for(request.user, order)
            ],
            "events_url": reverse("admin:orders_storedevent_changelist") + f"?stream={summary.id}",
            "write_version": order.version,
            "read_model_behind": order.version > summary.version,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def _visible_order(self, request: HttpRequest, object_id: str) -> OrderSummary:
        """The order, if this user may see it; else 404, never 403 (SPEC §5)."""
        summary = self.get_object(request, unquote(object_id))
        if summary is None or not self.has_view_permission(request, summary):
            raise Http404(gettext("order not found"))
        return summary

    # --- the actions -----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/actions/<slug:action_name>/",
                self.admin_site.admin_view(self.action_view),
                name=f"{info[0]}_{info[1]}_action",
            ),
            *super().get_urls(),
        ]

    def action_url(self, order_id: Any, action: OrderAction) -> str:
        return reverse("admin:projections_ordersummary_action", args=[order_id, action.name])

    def action_view(self, request: HttpRequest, object_id: str, action_name: str) -> HttpResponse:
        summary = self._visible_order(request, object_id)
        action = ACTIONS.get(action_name)
        if action is None:
            raise Http404(gettext("no such action"))
        order = current_order(store.load(summary.id), summary.id)
        if not action.allowed(request.user, order):
            raise PermissionDenied(
                gettext("your role may not %(action)s") % {"action": str(action.label).lower()}
            )
        form = action.form(request.POST if request.method == "POST" else None, order=order)
        if form.is_valid():
            try:
                done = run_admin_action(
                    request,
                    form.command(),
                    label=action.label,
                    number=summary.number,
                    seen_version=form.shown_version,
                )
            except StaleVersion:
                # Show the order as it is now with a fresh form: resending the old one would act twice.
                messages.error(request, STALE_FORM_MESSAGE)
                order = current_order(store.load(summary.id), summary.id)
                form, done = action.form(order=order), False
            if done:
                # "Recent actions" on the index; the event log remains the record of what happened.
                self.log_change(
                    request,
                    summary,
                    gettext("%(action)s (command sent through the bus)") % {"action": action.label},
                )
                return HttpResponseRedirect(
                    reverse("admin:projections_ordersummary_change", args=[summary.id])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.label}: {summary.number}",  # an action and an order number, no prose
            "subtitle": None,
            "opts": self.opts,
            "original": summary,
            "order": order,
            "action": action,
            "why_not": action.unavailable(order),
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": True,
            "outstanding": money(order.outstanding, summary.currency),
            "total": money(order.total, summary.currency),
            "paid": money(order.amount_paid, summary.currency),
            "refunded": money(order.amount_refunded, summary.currency),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/orders/order_action.html", context)
