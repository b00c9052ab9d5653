"""``GET /api/``: an index of the API's resources, so a client (or a person with curl) can start there."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# Resource name -> URL name. Only collections and entry points: routes with ids are in the schema.
RESOURCES = {
    "token": "auth-token",  # nosec B105 - a URL name, not a password
    "orders": "order-list",
    "products": "product-list",
    "daily_sales": "daily-sales",
    "projections": "projection-list",
    "events": "event-feed",
    "webhook_endpoints": "webhook-endpoint-list",
    "schema": "schema",
    "docs": "docs",
}


class ApiRootView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Index of the API's resources",
        responses=inline_serializer(
            "ApiIndex", fields={"resources": serializers.DictField(child=serializers.CharField())}
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"resources": {name: reverse(url_name, request=request) for name, url_name in RESOURCES.items()}}
        )
