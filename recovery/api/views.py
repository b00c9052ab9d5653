"""``POST /api/customers/{id}/erase/``: crypto-shred a customer's personal data (managers only)."""

from __future__ import annotations

from functools import partial

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import rule_permission
from config.openapi import errors
from orders.api.commands import IDEMPOTENCY_PARAMETER, respond
from orders.api.idempotency import StoredResponse
from orders.commands import EraseCustomerData
from orders.consistency import CONSISTENCY_HEADER, consistency_token
from orders.handlers import DispatchResult


class EraseCustomerView(APIView):
    permission_classes = [rule_permission("orders.erase_customer_data")]

    @extend_schema(
        summary="Erase a customer's personal data",
        extensions=errors("permission_denied"),
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses=inline_serializer(
            "CustomerErasure",
            {
                "customer": serializers.IntegerField(),
                "erased": serializers.BooleanField(),
                "already_erased": serializers.BooleanField(),
            },
        ),
        description="Deletes the customer's data key and records CustomerDataErased: their name, email and "
        "addresses read as erased everywhere; orders and totals stay. Repeating it changes nothing. "
        f"The {CONSISTENCY_HEADER} header lets a read wait until the read model shows the erasure.",
    )
    def post(self, request: Request, customer_id: int) -> Response:
        command = EraseCustomerData(customer_id=customer_id)
        return respond(request, command, answer=partial(_response_for, customer_id))


def _response_for(customer_id: int, result: DispatchResult) -> StoredResponse:
    token = consistency_token(result.events)
    body = {"customer": customer_id, "erased": True, "already_erased": not result.events}
    return StoredResponse(status=200, body=body, headers={CONSISTENCY_HEADER: token} if token else {})
