"""Schema post-processing: every operation documents the error body it can answer with."""

from __future__ import annotations

from typing import Any

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
ERRORS = {
    "400": "validation_error: the request is malformed; details name each bad field",
    "401": "not_authenticated / authentication_failed",
    "403": "permission_denied",
    "404": "not_found (also for an order the user may not see)",
    "409": "invalid_transition, concurrency_conflict, insufficient_stock or idempotency_key_in_use",
    "413": "request_too_large",
    "422": "idempotency_key_reused, or order_incomplete (details name what the order lacks)",
    "429": "rate_limited (with Retry-After)",
    "503": "projection_lagging (with Retry-After) or a dependency is down",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/ErrorResponse"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": reference}}},
                )
    return result
