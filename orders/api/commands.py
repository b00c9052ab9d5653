"""Command endpoints: parse the body, build the command, dispatch it through the bus (with the request's
Idempotency-Key as the bus's idempotency step), and answer the order as the write side now sees it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import rules
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.openapi import ORDER_COMMAND_ERRORS, errors
from config.request_context import correlation_id
from orders import commands as c
from orders.aggregate import Order
from orders.api import idempotency
from orders.api import serializers as s
from orders.api.idempotency import StoredResponse
from orders.api.representation import WrittenOrder, represent
from orders.commands import Command
from orders.consistency import CONSISTENCY_HEADER, consistency_token
from orders.handlers import DispatchResult, dispatch, dispatch_idempotent

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Up to 255 characters, per user, kept 24 h: the same key and request replays the response.",
)


def respond_to_command(request: Request, command: Command, *, status: int = 200) -> Response:
    """Dispatch ``command`` as the request's user; answer the order as the write side now sees it."""
    return respond(request, command, answer=partial(_order_answer, request=request, status=status))


def respond(
    request: Request, command: Command, *, answer: Callable[[DispatchResult], StoredResponse]
) -> Response:
    """Dispatch ``command`` for ``request`` and answer with ``answer(result)``; with an Idempotency-Key
    the answer is remembered in the command's transaction, and a repeat replays it."""
    key = idempotency.request_key(request)
    if key is None:
        result = dispatch(command, actor=request.user, correlation_id=correlation_id(request))
        stored, replayed = answer(result), False
    else:
        outcome = dispatch_idempotent(
            command,
            actor=request.user,
            correlation_id=correlation_id(request),
            idempotency=idempotency.KeyedRequest(request, key, answer=answer),
        )
        stored, replayed = outcome.value, outcome.replayed
    response = Response(stored.body, status=stored.status, headers=stored.headers)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _order_answer(result: DispatchResult, *, request: Request, status: int) -> StoredResponse:
    # A command that changed nothing (a repeated payment) still names the state it answers with.
    token = consistency_token(result.events or result.history[-1:])
    if not isinstance(result.order, Order):  # only the order commands' views answer with the order
        raise TypeError(f"{type(result.order).__name__} is not an order")
    body = represent(WrittenOrder.of(result.order, result.history), request.user)
    headers = {CONSISTENCY_HEADER: token or ""}
    if status == 201:  # the new order's own URL
        headers["Location"] = request.build_absolute_uri(
            reverse("order-detail", kwargs={"order_id": result.order.id})
        )
    return StoredResponse(status=status, body=body, headers=headers)


class CommandView(APIView):
    """One command per view: ``input`` validates the body, ``command`` builds the command from it."""

    input: type[serializers.Serializer] = s.EmptySerializer
    status_code = 200

    # `*args: Any, **kwargs: Any` leaves each view free to name the URL arguments it takes (order_id, sku).
    def command(self, request: Request, data: dict[str, Any], *args: Any, **kwargs: Any) -> c.Command:
        raise NotImplementedError

    def input_for(self, request: Request) -> type[serializers.Serializer]:
        return self.input

    def execute(self, request: Request, **kwargs: Any) -> Response:
        serializer = self.input_for(request)(data=request.data if request.data is not None else {})
        serializer.is_valid(raise_exception=True)
        command = self.command(request, serializer.validated_data, **kwargs)
        return respond_to_command(request, command, status=self.status_code)


def command_endpoint(
    input_serializer: type[serializers.Serializer],
    *,
    summary: str,
    status: int = 200,
    can_fail_with: tuple[str, ...] = ORDER_COMMAND_ERRORS,
) -> Any:
    """Declare a command view's body and document it (the response is always the order), with the
    errors its command can meet besides those every command can (see ``config.openapi``)."""

    def declare(view: type[CommandView]) -> type[CommandView]:
        view.input, view.status_code = input_serializer, status
        return extend_schema(
            summary=summary,
            request=input_serializer,
            responses={status: s.OrderSerializer},
            parameters=[IDEMPOTENCY_PARAMETER],
            description=f"Answers the order as the write side now sees it, with header {CONSISTENCY_HEADER}.",
            extensions=errors(*can_fail_with),
        )(view)

    return declare


class OrderCommandView(CommandView):
    """``POST /orders/{id}/<action>/``."""

    def post(self, request: Request, order_id: UUID, **kwargs: Any) -> Response:
        return self.execute(request, order_id=order_id, **kwargs)


@command_endpoint(
    s.CreateOrderSerializer,
    summary="Create an order",
    status=201,
    can_fail_with=("validation_error", "permission_denied"),
)
class CreateOrderView(CommandView):
    def command(self, request: Request, data: dict[str, Any], **kwargs: Any) -> c.Command:
        customer: int | None = data.get("customer")
        if customer is None:
            if rules.has_perm("orders.create_order_for_customer", request.user):
                raise serializers.ValidationError(
                    {"customer": [gettext("staff create orders for a given customer")]}
                )
            customer = request.user.pk  # a role that may not create orders is refused by the bus
        if customer is None:  # an anonymous user, whom IsAuthenticated already keeps out
            raise exceptions.NotAuthenticated()
        return c.CreateOrder(
            order_id=uuid4(),
            customer_id=customer,
            lines=s.lines_to_quantities(data.get("lines", [])),
            shipping_address=data.get("shipping_address"),
        )

    def post(self, request: Request) -> Response:
        return self.execute(request)


@command_endpoint(s.AddLineSerializer, summary="Add a line (or more of a product already on the order)")
class AddLineView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.AddLine(order_id=order_id, sku=data["sku"], quantity=data["quantity"])


@command_endpoint(s.ChangeLineSerializer, summary="Change or remove a line")
class LineView(CommandView):
    """PATCH changes a line's quantity, DELETE removes the line."""

    def input_for(self, request: Request) -> type[serializers.Serializer]:
        return s.EmptySerializer if request.method == "DELETE" else s.ChangeLineSerializer

    def command(self, request: Request, data: dict[str, Any], order_id: UUID, sku: str) -> c.Command:
        if request.method == "DELETE":
            return c.RemoveLine(order_id=order_id, sku=sku)
        return c.ChangeLineQuantity(order_id=order_id, sku=sku, quantity=data["quantity"])

    @extend_schema(summary="Change a line's quantity")
    def patch(self, request: Request, order_id: UUID, sku: str) -> Response:
        return self.execute(request, order_id=order_id, sku=sku)

    @extend_schema(summary="Remove a line", request=None)
    def delete(self, request: Request, order_id: UUID, sku: str) -> Response:
        return self.execute(request, order_id=order_id, sku=sku)


@command_endpoint(s.AddressSerializer, summary="Set the shipping address")
class ShippingAddressView(CommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.SetShippingAddress(order_id=order_id, address=dict(data))

    def put(self, request: Request, order_id: UUID) -> Response:
        return self.execute(request, order_id=order_id)


@command_endpoint(
    s.EmptySerializer,
    summary="Place the order, reserving its stock",
    can_fail_with=(*ORDER_COMMAND_ERRORS, "insufficient_stock", "order_incomplete"),
)
class PlaceOrderView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.PlaceOrder(order_id=order_id)


@command_endpoint(s.CancelSerializer, summary="Cancel the order, releasing stock and refunding payments")
class CancelOrderView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.CancelOrder(order_id=order_id, reason=data["reason"])


@command_endpoint(s.PaymentSerializer, summary="Record a payment")
class RecordPaymentView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.RecordPayment(order_id=order_id, amount=data["amount"], reference=data["reference"])


@command_endpoint(s.ShipmentSerializer, summary="Ship items")
class ShipItemsView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.ShipItems(
            order_id=order_id,
            lines=s.lines_to_quantities(data["lines"]),
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
        )


@command_endpoint(s.EmptySerializer, summary="Mark a shipment delivered")
class MarkDeliveredView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID, shipment_id: int) -> c.Command:
        return c.MarkDelivered(order_id=order_id, shipment_id=shipment_id)


@command_endpoint(s.RefundSerializer, summary="Issue a refund")
class IssueRefundView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.IssueRefund(order_id=order_id, amount=data["amount"], reason=data["reason"])


@command_endpoint(
    s.NoteSerializer,
    summary="Add a staff note",
    can_fail_with=("validation_error", "permission_denied", "concurrency_conflict"),
)
class AddNoteView(OrderCommandView):
    def command(self, request: Request, data: dict[str, Any], order_id: UUID) -> c.Command:
        return c.AddNote(order_id=order_id, text=data["text"])
