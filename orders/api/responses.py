"""Running a command for a request: idempotency, correlation, and the response every command gives."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from config.request_context import correlation_id
from orders.aggregate import Order
from orders.api import idempotency
from orders.api.idempotency import StoredResponse
from orders.api.representation import WrittenOrder, represent
from orders.commands import Command
from orders.consistency import CONSISTENCY_HEADER, consistency_token
from orders.handlers import DispatchResult, dispatch, dispatch_idempotent


def respond_to_command(request: Request, command: Command, *, status: int = 200) -> Response:
    """Dispatch ``command`` as the request's user; answer the order as the write side now sees it."""
    return respond(request, command, answer=partial(_order_answer, user=request.user, status=status))


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


def _order_answer(result: DispatchResult, *, user: Any, status: int) -> StoredResponse:
    # A command that changed nothing (a repeated payment) still names the state it answers with.
    token = consistency_token(result.events or result.history[-1:])
    if not isinstance(result.order, Order):  # only the order commands' views answer with the order
        raise TypeError(f"{type(result.order).__name__} is not an order")
    body = represent(WrittenOrder.of(result.order, result.history), user)
    return StoredResponse(status=status, body=body, headers={CONSISTENCY_HEADER: token or ""})
