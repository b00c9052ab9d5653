"""Schema post-processing: every operation documents the errors it can answer with, and only those.

One table (``ERRORS``) holds each error the API answers: its status, code and an example of the error
body. Which of them an operation documents follows from what the operation is, read off its schema:
an authenticated operation can answer 401, one with a body or query parameters 400, one with a path
parameter 404, one taking an ``Idempotency-Key`` the key's 409/422, a read taking ``X-Consistency-Token``
503 ``projection_lagging``; every operation can be throttled (429) and can meet an unavailable database
(503). What only the view knows (its role check, the domain rules its command enforces) it names with
``errors(...)`` in its ``extend_schema``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ERROR_CODES_KEY = "x-error-codes"  # set by ``errors()``, read and removed by the hook below


@dataclass(frozen=True)
class ApiError:
    status: int
    code: str
    message: str  # an example of the message; clients act on the code
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


ERRORS: dict[str, ApiError] = {
    e.code: e
    for e in [
        ApiError(400, "validation_error", "the request is not valid", {"quantity": ["must be at least 1"]}),
        ApiError(401, "not_authenticated", "Authentication credentials were not provided."),
        ApiError(401, "authentication_failed", "Invalid token."),
        ApiError(403, "permission_denied", "you may not record payments"),
        ApiError(404, "not_found", "order not found"),
        ApiError(409, "invalid_transition", "an order ships only once it is paid"),
        ApiError(409, "concurrency_conflict", "the order changed meanwhile; retry"),
        ApiError(409, "insufficient_stock", "not enough stock", {"sku": ["2 left"]}),
        ApiError(409, "idempotency_key_in_use", "a request with this Idempotency-Key is still in progress"),
        ApiError(409, "rebuild_in_progress", "a rebuild of this projection is already queued or running"),
        ApiError(413, "request_too_large", "the request body is too large"),
        ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used for another request"),
        ApiError(422, "order_incomplete", "the order is not complete", {"lines": ["add at least one line"]}),
        ApiError(429, "rate_limited", "Request was throttled. Expected available in 2 seconds."),
        ApiError(503, "projection_lagging", "the read model has not caught up yet; retry shortly"),
        ApiError(503, "database_unavailable", "the database is unavailable; retry"),
    ]
}

# Errors of the whole order lifecycle, for the commands on an existing order.
ORDER_COMMAND_ERRORS = ("validation_error", "permission_denied", "invalid_transition", "concurrency_conflict")


def errors(*codes: str) -> dict[str, list[str]]:
    """``extend_schema(extensions=errors(...))``: the errors only the view knows it can answer."""
    unknown = [code for code in codes if code not in ERRORS]
    if unknown:
        raise ValueError(f"undocumented error codes: {unknown}")
    return {ERROR_CODES_KEY: list(codes)}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}


def derived_codes(operation: dict[str, Any]) -> list[str]:
    """The errors an operation can answer because of what it is: authenticated, with input, …"""
    parameters = operation.get("parameters", [])
    located = {(p.get("in"), p.get("name")) for p in parameters}
    codes = ["rate_limited", "database_unavailable"]
    security = operation.get("security", [])
    if any(requirement for requirement in security):  # some scheme applies: a bad token is a 401
        codes.append("authentication_failed")
        if {} not in security:  # anonymous requests are refused too
            codes.append("not_authenticated")
    if "requestBody" in operation:
        codes += ["validation_error", "request_too_large"]
    if any(where == "query" for where, _ in located):
        codes.append("validation_error")
    if any(where == "path" for where, _ in located):
        codes.append("not_found")
    if ("header", "Idempotency-Key") in located:
        codes += ["validation_error", "idempotency_key_in_use", "idempotency_key_reused"]
    if ("header", "X-Consistency-Token") in located:
        codes += ["validation_error", "projection_lagging"]
    return codes


def error_responses(codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """One response per status, with an example of the body for each code it stands for."""
    by_status: dict[int, list[ApiError]] = {}
    for code in dict.fromkeys(codes):
        by_status.setdefault(ERRORS[code].status, []).append(ERRORS[code])
    reference = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        str(status): {
            "description": ", ".join(f"`{e.code}`" for e in kinds),
            "content": {
                "application/json": {
                    "schema": reference,
                    "examples": {e.code: {"summary": e.code, "value": e.body()} for e in kinds},
                }
            },
        }
        for status, kinds in sorted(by_status.items())
    }


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            declared = operation.pop(ERROR_CODES_KEY, [])
            responses = operation.setdefault("responses", {})
            for status, response in error_responses([*derived_codes(operation), *declared]).items():
                responses.setdefault(status, response)
    return result
