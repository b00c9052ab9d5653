"""Sales reports and projection operations."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import rule_permission
from config.errors import NotFound
from config.openapi import errors
from config.serializers import StrictSerializer
from orders.api.fields import MoneyField
from projections import runner
from projections.models import DailySales
from projections.projectors import PROJECTORS
from projections.rebuild import request_rebuild, withdraw_rebuild_request
from projections.status import projection_status
from projections.tasks import nudge, rebuild_projection

MAX_REPORT_DAYS = 366


class DailySalesQuery(StrictSerializer):
    # "from" is a Python keyword, hence the source mapping.
    from_ = serializers.DateField(required=False, source="start")
    to = serializers.DateField(required=False, source="end")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end") or timezone.localdate()
        try:
            start = attrs.get("start") or end - timedelta(days=29)
        except OverflowError:
            raise serializers.ValidationError({"to": [gettext("too early a date")]}) from None
        if start > end:
            raise serializers.ValidationError({"from": [gettext("must not be after 'to'")]})
        if (end - start).days >= MAX_REPORT_DAYS:
            raise serializers.ValidationError(
                {"from": [gettext("at most %(days)s days at a time") % {"days": MAX_REPORT_DAYS}]}
            )
        return {"start": start, "end": end}


class DailySalesRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    orders_placed = serializers.IntegerField()
    gross = MoneyField()
    refunds = MoneyField()
    net = MoneyField()


class DailySalesView(APIView):
    """Per day: orders placed and their value, refunds issued, net. Days without sales show zeros."""

    permission_classes = [rule_permission("orders.view_sales_reports")]

    @extend_schema(
        summary="Daily sales report",
        description="Per day from `from` to `to` (at most 366 days; by default the last 30): orders placed, "
        "gross, refunds and net, as money strings.",
        extensions=errors("permission_denied"),
        parameters=[DailySalesQuery],
        responses=inline_serializer(
            "DailySalesReport",
            {"currency": serializers.CharField(), "days": DailySalesRowSerializer(many=True)},
        ),
    )
    def get(self, request: Request) -> Response:
        query = DailySalesQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        rows = DailySales.objects.filter(day__gte=start, day__lte=end).in_bulk(field_name="day")
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        report = [rows.get(day) or DailySales(day=day) for day in days]
        return Response(
            {"currency": settings.SHOP_CURRENCY, "days": DailySalesRowSerializer(report, many=True).data}
        )


class ProjectionStatusSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField()
    position = serializers.IntegerField()
    events_applied = serializers.IntegerField()
    lag_events = serializers.IntegerField()
    lag_seconds = serializers.FloatField()
    last_error = serializers.CharField()
    failed_position = serializers.IntegerField(allow_null=True)
    rebuild_position = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class ProjectionListView(APIView):
    permission_classes = [rule_permission("orders.manage_projections")]

    @extend_schema(
        summary="List the projections and how far behind they are",
        extensions=errors("permission_denied"),
        responses=ProjectionStatusSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(ProjectionStatusSerializer([asdict(s) for s in projection_status()], many=True).data)


def _known(name: str) -> str:
    if name not in PROJECTORS:
        raise NotFound(gettext("no projection named %(name)s") % {"name": repr(name)})
    return name


class ProjectionRebuildView(APIView):
    """Schedules a rebuild from the first event; the live read model keeps serving meanwhile. While
    one is queued or running, another is refused (409 ``rebuild_in_progress``); a projection an operator
    stopped is not rebuilt (409 ``invalid_transition``)."""

    permission_classes = [rule_permission("orders.manage_projections")]

    @extend_schema(
        summary="Rebuild a projection from the first event",
        description="The live read model keeps serving during the rebuild; its progress shows in "
        "`GET /api/projections/`.",
        extensions=errors("permission_denied", "rebuild_in_progress", "invalid_transition"),
        request=None,
        responses={
            202: inline_serializer(
                "RebuildScheduled", {"name": serializers.CharField(), "status": serializers.CharField()}
            )
        },
    )
    def post(self, request: Request, name: str) -> Response:
        request_rebuild(_known(name))  # 409 rebuild_in_progress while one is queued or running
        try:
            rebuild_projection.delay(name)
        except Exception:
            withdraw_rebuild_request(name)  # not queued: it must not block the next request
            raise
        return Response({"name": name, "status": "scheduled"}, status=202)


class ProjectionRetryView(APIView):
    """Resumes a projection stopped by a failing event, after the fix is deployed."""

    permission_classes = [rule_permission("orders.manage_projections")]

    @extend_schema(
        summary="Resume a projection stopped by a failing event",
        extensions=errors("permission_denied"),
        request=None,
        responses=ProjectionStatusSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        runner.retry(_known(name))
        nudge()
        (status,) = projection_status([name])
        return Response(ProjectionStatusSerializer(asdict(status)).data)
