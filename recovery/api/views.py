"""``POST /api/customers/{id}/erase/``: crypto-shred a customer's personal data (managers only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import rule_permission
from orders.consistency import CONSISTENCY_HEADER, consistency_token
from recovery.erasure import erase_customer


class EraseCustomerView(APIView):
    permission_classes = [rule_permission("orders.erase_customer_data")]

    @extend_schema(
        request=None,
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
        result = erase_customer(customer_id, actor=request.user)
        token = consistency_token(result.events)
        return Response(
            {"customer": customer_id, "erased": True, "already_erased": result.already_erased},
            headers={CONSISTENCY_HEADER: token} if token else None,
        )
