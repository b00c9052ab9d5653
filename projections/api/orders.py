"""The order read model's endpoints: the list and the detail, read-your-writes, and past states.

``GET /api/orders/`` and ``POST /api/orders/`` share a URL: ``OrderCollectionView`` joins the read
side's list view and the write side's create command, each a class of its own side.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import rules
from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound, ProjectionLagging
from config.errors import ValidationError as InvalidInput
from config.openapi import errors
from config.pagination import StrictOrderingFilter
from orders import store
from orders.aggregate import replay
from orders.api.commands import IDEMPOTENCY_PARAMETER, CreateOrderView
from orders.api.representation import WrittenOrder, represent
from orders.api.serializers import CreateOrderSerializer, OrderSerializer
from orders.consistency import CONSISTENCY_HEADER
from projections.api.filters import FilterWhenAskedBackend, OrderCursorPagination, OrderFilter
from projections.documents import served
from projections.models import OrderSummary
from projections.projectors import OrderSummaryProjector
from projections.queries import visible_orders
from projections.status import InvalidToken, wait_until_projected

CONSISTENCY_PARAMETER = OpenApiParameter(
    CONSISTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="A command's token: wait (up to 2 s) until the read model shows that command, else 503.",
)


LOCATION_HEADER = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=[201], description="The new order's URL."
)


class ConsistentReadMixin:
    """Reads that carry X-Consistency-Token wait until the order summaries have caught up with it."""

    # The wait's clock, as DRF's throttles take a ``timer``: tests move time instead of waiting 2 s.
    consistency_timer = staticmethod(time.monotonic)
    consistency_sleep = staticmethod(time.sleep)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # a mixin: APIView's, later in the MRO
        token = request.headers.get(CONSISTENCY_HEADER)
        if not token:
            return
        try:
            reached = wait_until_projected(
                token,
                names=[OrderSummaryProjector.name],
                timeout=settings.CONSISTENCY_WAIT_SECONDS,
                timer=self.consistency_timer,
                sleep=self.consistency_sleep,
            )
        except InvalidToken as exc:
            raise InvalidInput(str(exc), details={CONSISTENCY_HEADER: [str(exc)]}) from None
        if not reached:
            raise ProjectionLagging(gettext("the read model has not caught up yet; retry shortly"))


MAX_STREAM_VERSION = 2**31 - 1  # event_log.version is an integer column


class PastStateSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(required=False)
    as_of_version = serializers.IntegerField(required=False, min_value=1, max_value=MAX_STREAM_VERSION)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "as_of" in attrs and "as_of_version" in attrs:
            raise serializers.ValidationError({"as_of": [gettext("give as_of or as_of_version, not both")]})
        return attrs


class OrderListView(ConsistentReadMixin, generics.ListAPIView):
    """The orders the user may see, filtered and paginated by cursor."""

    serializer_class = OrderSerializer  # documents the representation; ``list`` builds it directly
    filterset_class = OrderFilter
    pagination_class = OrderCursorPagination
    filter_backends = [FilterWhenAskedBackend, StrictOrderingFilter]
    ordering_fields = ["created_at", "updated_at", "number", "total"]  # not null: a cursor needs a value
    ordering_tiebreaker = "id"
    ordering = ("-created_at", "-id")

    def get_queryset(self) -> QuerySet[OrderSummary]:
        return visible_orders(self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        include_notes = rules.has_perm("orders.view_notes", request.user)
        column = "document" if include_notes else "document_without_notes"
        # Only what the cursor and the stored document need: no row's JSON columns are decoded.
        rows = self.filter_queryset(self.get_queryset()).values("id", *self.ordering_fields, column)
        page = self.paginate_queryset(rows) or []
        return self.get_paginated_response(_served(page, include_notes=include_notes))


@extend_schema_view(
    # The create view's class-level schema (a 201, Idempotency-Key) would otherwise apply to GET too.
    get=extend_schema(
        summary="The orders you may see",
        parameters=[
            CONSISTENCY_PARAMETER,
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, exclude=True),
        ],
        responses={200: OrderSerializer(many=True)},
        extensions=errors(),  # not the create's: a list refuses no one, it shows what the user may see
        description="The read model, newest first unless ordering says otherwise; filters combine.",
    ),
    post=extend_schema(
        summary="Create an order",
        request=CreateOrderSerializer,
        responses={201: OrderSerializer},
        parameters=[IDEMPOTENCY_PARAMETER, LOCATION_HEADER],
        extensions=errors("validation_error", "permission_denied"),
        description="CreateOrder: optionally with lines, a shipping address and (staff) the customer. "
        "Answers 201 with the order and its URL in Location.",
    ),
)
class OrderCollectionView(OrderListView, CreateOrderView):
    """``/api/orders/``: ``GET`` is the read side's list, ``POST`` the write side's CreateOrder."""


@extend_schema(
    summary="Get an order",
    parameters=[CONSISTENCY_PARAMETER, PastStateSerializer],
    responses=OrderSerializer,
    description="The order from the read model; with as_of or as_of_version, its past state folded from "
    "the log.",
)
class OrderDetailView(ConsistentReadMixin, APIView):
    def get(self, request: Request, order_id: UUID) -> Response:
        past = PastStateSerializer(data=request.query_params)
        past.is_valid(raise_exception=True)
        if past.validated_data:
            history = store.load(
                order_id,
                up_to_version=past.validated_data.get("as_of_version"),
                up_to_time=past.validated_data.get("as_of"),
            )
            order = replay(order_id, [(r.event, r.version, r.recorded_at) for r in history])
            if not order.exists or not rules.has_perm("orders.view_order", request.user, order):
                raise NotFound(gettext("order not found"))
            wanted = past.validated_data.get("as_of_version")
            if wanted is not None and order.version < wanted:  # never the present posing as the past
                raise NotFound(
                    gettext("the order has no version %(version)s yet") % {"version": wanted},
                    details={"as_of_version": [gettext("at most %(version)s") % {"version": order.version}]},
                )
            return Response(represent(WrittenOrder.of(order, history), request.user))
        include_notes = rules.has_perm("orders.view_notes", request.user)
        column = "document" if include_notes else "document_without_notes"
        found = visible_orders(request.user).filter(pk=order_id).order_by().values_list(column)[:1]
        if not found:
            raise NotFound(gettext("order not found"))
        return Response(_served([{"id": order_id, column: found[0][0]}], include_notes=include_notes)[0])


def _served(rows: list[dict[str, Any]], *, include_notes: bool) -> list[Any]:
    """The stored documents of ``rows``; rows projected before documents were stored are built from
    their summaries (one query for all of them)."""
    missing = [
        row["id"] for row in rows if row["document" if include_notes else "document_without_notes"] is None
    ]
    summaries = OrderSummary.objects.in_bulk(missing) if missing else {}
    return [served(summaries.get(row["id"], row), include_notes=include_notes) for row in rows]
