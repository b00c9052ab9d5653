"""``POST /api/customers/{id}/erase/``: crypto-shred a customer's personal data (managers only)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import rule_permission
from config.request_context import correlation_id
from orders.api import idempotency
from orders.api.commands import IDEMPOTENCY_PARAMETER
from orders.consistency import CONSISTENCY_HEADER, consistency_token
from orders.handlers import DispatchResult
from recovery.erasure import erase_customer


class EraseCustomerView(APIView):
    permission_classes = [rule_permission("orders.erase_customer_data")]

    @extend_schema(
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
        key = idempotency.request_key(request)

        def execute(claim: Any = None, remember: Any = None) -> idempotency.StoredResponse:
            answered: list[idempotency.StoredResponse] = []

            def on_success(result: DispatchResult) -> None:  # inside the erasure's transaction
                response = _response_for(customer_id, result)
                answered.append(response)
                if remember is not None:
                    remember(response)

            erase_customer(
                customer_id,
                actor=request.user,
                correlation_id=correlation_id(request),
                guard=claim,
                on_success=on_success,
            )
            return answered[-1]

        if key is None:
            stored, replayed = execute(), False
        else:
            stored, replayed = idempotency.run_once(request, key, execute)
        response = Response(stored.body, status=stored.status, headers=stored.headers)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _response_for(customer_id: int, result: DispatchResult) -> idempotency.StoredResponse:
    token = consistency_token(result.events)
    body = {"customer": customer_id, "erased": True, "already_erased": not result.events}
    return idempotency.StoredResponse(
        status=200, body=body, headers={CONSISTENCY_HEADER: token} if token else {}
    )
