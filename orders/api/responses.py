"""Running a command for a request: idempotency, correlation, and the response every command gives."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from config.request_context import correlation_id
from orders.api import idempotency
from orders.api.representation import WrittenOrder, represent
from orders.commands import Command
from orders.consistency import CONSISTENCY_HEADER, consistency_token
from orders.handlers import DispatchResult, dispatch


def respond_to_command(request: Request, command: Command, *, status: int = 200) -> Response:
    """Dispatch ``command`` as the request's user; answer the order as the write side now sees it."""
    key = idempotency.request_key(request)

    def execute(claim: Any = None, remember: Any = None) -> idempotency.StoredResponse:
        answered: list[idempotency.StoredResponse] = []

        def on_success(result: DispatchResult) -> None:  # inside the command's transaction
            response = _response_for(result, request.user, status)
            answered.append(response)
            if remember is not None:
                remember(response)

        dispatch(
            command,
            actor=request.user,
            correlation_id=correlation_id(request),
            guard=claim,
            on_success=on_success,
        )
        return answered[-1]  # the attempt that committed (an earlier one may have been rolled back)

    if key is None:
        stored, replayed = execute(), False
    else:
        stored, replayed = idempotency.run_once(request, key, execute)
    response = Response(stored.body, status=stored.status, headers=stored.headers)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _response_for(result: DispatchResult, user: Any, status: int) -> idempotency.StoredResponse:
    # A command that changed nothing (a repeated payment) still names the state it answers with.
    token = consistency_token(result.events or result.history[-1:])
    body = represent(WrittenOrder.of(result.order, result.history), user)
    return idempotency.StoredResponse(status=status, body=body, headers={CONSISTENCY_HEADER: token or ""})
