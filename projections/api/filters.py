from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from config.pagination import StrictCursorPagination
from orders.statuses import ORDER_STATUSES, FulfillmentStatus, PaymentStatus
from projections.models import OrderSummary


def _choices(values: Iterable[StrEnum]) -> list[tuple[str, str]]:
    return [(value.value, value.value) for value in values]


class OrderFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=_choices(ORDER_STATUSES))
    payment_status = filters.ChoiceFilter(choices=_choices(PaymentStatus))
    fulfillment_status = filters.ChoiceFilter(choices=_choices(FulfillmentStatus))
    customer = filters.NumberFilter(field_name="customer_id", min_value=1)
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = filters.CharFilter(method="search_orders", max_length=100, help_text="order number or customer")

    class Meta:
        model = OrderSummary
        fields: list[str] = []

    def search_orders(
        self, queryset: QuerySet[OrderSummary], name: str, value: str
    ) -> QuerySet[OrderSummary]:
        return queryset.filter(
            Q(number__icontains=value)
            | Q(customer_name__icontains=value)
            | Q(customer_email__icontains=value)
        )


class OrderCursorPagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")
