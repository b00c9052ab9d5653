"""One exception handler for the API: every error answers ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions as drf
from rest_framework.response import Response

from config.errors import ApplicationError

logger = logging.getLogger(__name__)

# DRF exception -> our code; the status stays DRF's. Others (the apps' own) answer their default_code.
_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ValidationError: "validation_error",
    drf.ParseError: "validation_error",
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(code: str, message: str, status: int, details: Any = None, **headers: str) -> Response:
    return Response(error_body(code, message, details), status=status, headers=headers or None)


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return error_response(exc.code, exc.message, exc.status, exc.details, **headers)
    if isinstance(exc, RequestDataTooBig):
        return error_response("request_too_large", gettext("the request body is too large"), 413)
    if isinstance(exc, Http404):
        return error_response("not_found", gettext("not found"), 404)
    if isinstance(exc, DjangoPermissionDenied):
        return error_response("permission_denied", gettext("you may not do this"), 403)
    if isinstance(exc, drf.APIException):
        return _drf_response(exc)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away (a failover, a restart): Django drops the broken connection and the
        # next request reconnects. Nothing was acknowledged, so a retry with the same Idempotency-Key
        # is safe: it is applied at most once.
        logger.warning("database unavailable: %s", type(exc).__name__)
        return error_response(
            "database_unavailable", gettext("the database is unavailable; retry"), 503, **{"Retry-After": "1"}
        )
    return None  # a bug: Django answers 500 and logs it


def _drf_response(exc: drf.APIException) -> Response:
    code = next((c for kind, c in _DRF_CODES.items() if isinstance(exc, kind)), exc.default_code)
    headers: dict[str, str] = {}
    # Set by NotAuthenticated and AuthenticationFailed only; the stubs declare it on neither.
    auth_header: str | None = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    # Throttled.__init__ sets ``wait``; djangorestframework-stubs does not declare it.
    wait: float | None = getattr(exc, "wait", None) if isinstance(exc, drf.Throttled) else None
    if wait is not None:
        headers["Retry-After"] = str(max(int(wait + 0.999), 1))
    if isinstance(exc, drf.ValidationError | drf.ParseError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": _as_list(exc.detail)}
        message = (
            gettext("the request is not valid") if isinstance(exc, drf.ValidationError) else str(exc.detail)
        )
        return error_response(code, message, exc.status_code, details, **headers)
    return error_response(code, str(exc.detail), exc.status_code, **headers)


def _as_list(detail: Any) -> list[Any]:
    return detail if isinstance(detail, list) else [detail]
