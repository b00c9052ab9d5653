"""Application errors: flat and few. Each carries the code, message and details of the API's error body.

Domain code raises these; one exception handler maps them to HTTP. Nothing here imports Django or DRF.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApplicationError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    retry_after: ClassVar[int | None] = None  # seconds, for a Retry-After header

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationError(ApplicationError):
    code = "validation_error"
    status = 400


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class InvalidTransition(ApplicationError):
    code = "invalid_transition"
    status = 409


class ConcurrencyConflict(ApplicationError):
    code = "concurrency_conflict"
    status = 409


class StaleVersion(ConcurrencyConflict):
    """The caller acted on a version of the order that is no longer current (a form shown before a change,
    or sent twice). Not retried: deciding again on the new state is the caller's call, not the bus's."""


class WrongSite(ApplicationError):
    """The stream is homed at another site (multi-site): only its home appends to it. Details name the
    home site (and its URL when configured); the client sends the command there."""

    code = "wrong_site"
    status = 421


class InsufficientStock(ApplicationError):
    code = "insufficient_stock"
    status = 409


class IncompleteOrder(ApplicationError):
    """The order lacks something the command needs (a line, a shipping address); details name it."""

    code = "order_incomplete"
    status = 422


class IdempotencyKeyInUse(ApplicationError):
    code = "idempotency_key_in_use"
    status = 409


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    status = 422


class ProjectionLagging(ApplicationError):
    code = "projection_lagging"
    status = 503
    retry_after = 1
