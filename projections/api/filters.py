from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

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


class OrderCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({"limit": [f"a whole number from 1 to {self.max_page_size}"]})
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
        else:
            # DRF trusts the position inside a well-formed cursor; for this ordering it must be a time.
            # (The position is the text from the cursor; djangorestframework-stubs declares an int.)
            if cursor is None or cursor.position is None or _is_time(str(cursor.position)):
                return cursor
        raise ValidationError({"cursor": ["invalid cursor"]})


def _is_time(text: str) -> bool:
    try:
        return parse_datetime(text) is not None
    except ValueError:  # well-formed but impossible, e.g. month 13
        return False
