"""Webhook endpoints for managers: create (the secret is shown once), list, change, pause/resume,
rotate the secret, browse deliveries and their attempts, redeliver (audited)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import rule_permission
from config.errors import NotFound
from config.openapi import errors
from config.pagination import StrictCursorPagination
from config.serializers import StrictSerializer
from orders.events import EVENT_TYPES
from subscriptions import redeliver, services, ssrf
from subscriptions.models import Delivery, DeliveryAttempt, Endpoint

MANAGE = rule_permission("subscriptions.manage_endpoints")
REDELIVER = rule_permission("subscriptions.redeliver")


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = (
            "id",
            "url",
            "description",
            "event_types",
            "payload_version",
            "ordered",
            "max_in_flight",
            "state",
            "state_reason",
            "consecutive_failures",
            "owner",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "state_reason", "consecutive_failures", "owner", "created_at", "updated_at")

    max_in_flight = serializers.IntegerField(min_value=1, max_value=64, default=8)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(EVENT_TYPES)), required=False, max_length=50
    )
    owner = serializers.CharField(source="owner.username", read_only=True)

    def validate_url(self, value: str) -> str:
        try:
            ssrf.resolve(value)
        except ssrf.UnsafeDestination as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class EndpointPagination(StrictCursorPagination):
    ordering = ("created_at", "id")


@extend_schema_view(
    get=extend_schema(summary="List the webhook endpoints", extensions=errors("permission_denied")),
    post=extend_schema(
        summary="Register a webhook endpoint",
        description="The answer shows the signing secret this once. A URL that resolves to a private, "
        "loopback or link-local address is refused.",
        extensions=errors("permission_denied"),
    ),
)
class EndpointListView(generics.ListCreateAPIView):
    serializer_class = EndpointSerializer
    permission_classes = [MANAGE]
    pagination_class = EndpointPagination

    def get_queryset(self) -> QuerySet[Endpoint]:
        return Endpoint.objects.select_related("owner")

    @extend_schema(responses={201: EndpointSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.create_endpoint(owner=request.user, **serializer.validated_data)
        body = {**EndpointSerializer(endpoint).data, "secret": endpoint.secret}  # shown this once
        return Response(body, status=status.HTTP_201_CREATED)


def _endpoint(pk: Any) -> Endpoint:
    endpoint = Endpoint.objects.select_related("owner").filter(pk=pk).first()
    if endpoint is None:
        raise NotFound(gettext("no such endpoint"))
    return endpoint


@extend_schema_view(
    get=extend_schema(summary="Show a webhook endpoint", extensions=errors("permission_denied")),
    patch=extend_schema(
        summary="Change a webhook endpoint (URL, event types, state)", extensions=errors("permission_denied")
    ),
)
class EndpointDetailView(generics.RetrieveUpdateAPIView):
    serializer_class = EndpointSerializer
    permission_classes = [MANAGE]
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> Endpoint:
        return _endpoint(self.kwargs["endpoint_id"])

    def perform_update(self, serializer: serializers.BaseSerializer[Endpoint]) -> None:
        state = serializer.validated_data.pop("state", None)
        endpoint = serializer.save()
        if state is not None and state != endpoint.state:
            services.set_state(endpoint, state, reason="set by an operator")


class RotateSecretView(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        summary="Rotate an endpoint's signing secret",
        description="Both the new and the previous secret sign until `previous_secret_expires_at`.",
        request=None,
        responses={200: dict},
        extensions=errors("permission_denied"),
    )
    def post(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = _endpoint(endpoint_id)
        secret = services.rotate_secret(endpoint)
        return Response({"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at})


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = (
            "attempted_at",
            "duration_ms",
            "request_url",
            "request_headers",
            "status_code",
            "error",
            "response",
        )

    response = serializers.CharField(source="response_excerpt", read_only=True, help_text="the first 4 KB")


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = (
            "id",
            "position",
            "stream_id",
            "stream_version",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status",
            "last_error",
            "created_at",
            "first_attempt_at",
            "delivered_at",
        )


class DeliveryPagination(StrictCursorPagination):
    ordering = ("-id",)


class DeliveryQuery(StrictSerializer):
    state = serializers.ChoiceField(choices=Delivery.State.choices, required=False)
    cursor = serializers.CharField(required=False)
    limit = serializers.CharField(required=False)


@extend_schema_view(
    get=extend_schema(
        summary="List an endpoint's deliveries, newest first", extensions=errors("permission_denied")
    )
)
class DeliveryListView(generics.ListAPIView):
    serializer_class = DeliverySerializer
    permission_classes = [MANAGE]
    pagination_class = DeliveryPagination

    def get_queryset(self) -> QuerySet[Delivery]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, without a URL's id
            return Delivery.objects.none()
        query = DeliveryQuery(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        deliveries = _endpoint(self.kwargs["endpoint_id"]).deliveries.all()
        if "state" in query.validated_data:
            deliveries = deliveries.filter(state=query.validated_data["state"])
        return deliveries


class DeliveryDetailView(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        summary="Show a delivery with its attempts",
        responses=DeliverySerializer,
        extensions=errors("permission_denied"),
    )
    def get(self, request: Request, endpoint_id: Any, delivery_id: int) -> Response:
        delivery = Delivery.objects.filter(endpoint_id=endpoint_id, pk=delivery_id).first()
        if delivery is None:
            raise NotFound(gettext("no such delivery"))
        attempts = delivery.log.all()[:50]
        return Response(
            {**DeliverySerializer(delivery).data, "log": AttemptSerializer(attempts, many=True).data}
        )


class RedeliverRequest(StrictSerializer):
    delivery = serializers.IntegerField(required=False, min_value=1)
    from_position = serializers.IntegerField(required=False, min_value=1)
    to_position = serializers.IntegerField(required=False, min_value=1)
    failed_since = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kinds = [
            "delivery" in attrs,
            "from_position" in attrs or "to_position" in attrs,
            "failed_since" in attrs,
        ]
        if sum(kinds) != 1:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        gettext("give one of: delivery, from_position and to_position, failed_since")
                    ]
                }
            )
        if kinds[1] and not ("from_position" in attrs and "to_position" in attrs):
            raise serializers.ValidationError(
                {"to_position": [gettext("give both from_position and to_position")]}
            )
        return attrs


class RedeliverView(APIView):
    """Redeliver one delivery, a range of log positions, or every failure since a time (audited)."""

    permission_classes = [REDELIVER]

    @extend_schema(
        summary="Redeliver one delivery, a range of positions, or every failure since a time",
        request=RedeliverRequest,
        responses={202: dict},
        extensions=errors("permission_denied"),
    )
    def post(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = _endpoint(endpoint_id)
        asked = RedeliverRequest(data=request.data)
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        if "delivery" in data:
            delivery = endpoint.deliveries.filter(pk=data["delivery"]).first()
            if delivery is None:
                raise serializers.ValidationError(
                    {"delivery": [gettext("no such delivery of this endpoint")]}
                )
            count = redeliver.redeliver_one(delivery, actor=request.user)
        elif "failed_since" in data:
            count = redeliver.redeliver_failures(endpoint, since=data["failed_since"], actor=request.user)
        else:
            try:
                count = redeliver.redeliver_range(
                    endpoint, first=data["from_position"], last=data["to_position"], actor=request.user
                )
            except redeliver.RangeTooLarge as exc:
                raise serializers.ValidationError({"to_position": [str(exc)]}) from None
        return Response({"deliveries": count}, status=status.HTTP_202_ACCEPTED)
