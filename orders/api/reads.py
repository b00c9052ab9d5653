"""Reads of the write side's own data: an order's events from the log, and the product catalogue.
The order read model's views are the read side's (projections/api/orders.py)."""

from __future__ import annotations

from uuid import UUID

import rules
from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound
from config.pagination import ListCursorPagination, StrictCursorPagination
from orders import store
from orders.aggregate import replay
from orders.api.serializers import EventSerializer, ProductSerializer
from orders.models import Product


class EventPagination(ListCursorPagination):
    pass


class OrderEventsView(APIView):
    """The order's events, oldest first, from the log itself, paged like every list."""

    pagination_class = EventPagination

    @extend_schema(summary="List an order's events, oldest first", responses=EventSerializer(many=True))
    def get(self, request: Request, order_id: UUID) -> Response:
        history = store.load(order_id)
        order = replay(order_id, [(r.event, r.version, r.recorded_at) for r in history])
        if not order.exists or not rules.has_perm("orders.view_order", request.user, order):
            raise NotFound(gettext("order not found"))
        paginator = self.pagination_class()
        page = paginator.paginate_list(history, request, key=lambda row: row.version)
        events = EventSerializer(page, many=True).data
        if not rules.has_perm("orders.view_notes", request.user):
            for event in events:
                if event["type"] == "OrderNoteAdded":
                    event["payload"] = {"note_id": event["payload"]["note_id"], "text": "(hidden)"}
        return paginator.get_paginated_response(events)


class ProductCursorPagination(StrictCursorPagination):
    ordering = ("sku",)


class ProductFilter(filters.FilterSet):
    search = filters.CharFilter(method="search_products", max_length=100, help_text="sku or name contains")

    class Meta:
        model = Product
        fields: list[str] = []

    def search_products(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        return queryset.filter(Q(sku__icontains=value) | Q(name__icontains=value))


@extend_schema(summary="List the active products")
class ProductListView(generics.ListAPIView):
    """Active products, by sku; the catalogue is public."""

    serializer_class = ProductSerializer
    permission_classes = [AllowAny]
    queryset = Product.objects.filter(active=True).order_by("sku")
    filterset_class = ProductFilter
    pagination_class = ProductCursorPagination
