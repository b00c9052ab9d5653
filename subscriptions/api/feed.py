"""GET /api/events/: the whole log as a feed, for roles that may read every order's events."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.permissions import rule_permission
from config.openapi import errors
from config.serializers import StrictSerializer
from subscriptions import feed


class FeedQuery(StrictSerializer):
    after = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    wait = serializers.FloatField(
        min_value=0, default=0, help_text="seconds, at most SUBSCRIPTION_FEED_MAX_WAIT"
    )

    def validate_wait(self, value: float) -> float:
        if value > settings.SUBSCRIPTION_FEED_MAX_WAIT:
            raise serializers.ValidationError(
                gettext("at most %(seconds)s seconds")
                % {"seconds": f"{settings.SUBSCRIPTION_FEED_MAX_WAIT:g}"}
            )
        return value


class EventFeedView(APIView):
    """Events in commit order after ``after`` (a position this feed returned; 0 = the start), at most
    ``limit``, only those no open transaction can still precede. ``wait`` seconds: wait for one to arrive
    (long poll) instead of answering an empty page at once. ``next`` is the URL of the following page."""

    permission_classes = [rule_permission("subscriptions.read_event_feed")]

    @extend_schema(
        summary="Read the event log after a position, in commit order",
        parameters=[FeedQuery],
        extensions=errors("permission_denied"),
        responses=inline_serializer(
            "EventFeedPage",
            {
                "next": serializers.URLField(),
                "previous": serializers.URLField(allow_null=True),
                "next_after": serializers.IntegerField(),
                "results": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = FeedQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params: dict[str, Any] = query.validated_data
        try:
            events, next_after = feed.page(after=params["after"], limit=params["limit"], wait=params["wait"])
        except feed.UnknownPosition:
            raise serializers.ValidationError({"after": [gettext("no event has this position")]}) from None
        url = request.build_absolute_uri()
        return Response(
            {
                "next": replace_query_param(url, "after", next_after),
                "previous": None,
                "next_after": next_after,
                "results": events,
            }
        )
