"""Request id and request metrics/access log, for every request (API, admin, operations endpoints)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.signals import got_request_exception, request_finished
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from config.exception_handler import error_body
from config.metrics import HTTP_REQUEST_SECONDS
from config.request_context import REQUEST_ID_HEADER, accept_or_generate, request_id_var
from config.views import API_PREFIX, api_not_found, internal_error

GetResponse = Callable[[HttpRequest], HttpResponse]
access_log = logging.getLogger("config.requests")
request_logger = logging.getLogger("django.request")

# Anything else is counted as "other": a client must not be able to create label values at will.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestIdMiddleware:
    """Accepts a sane ``X-Request-ID`` or makes a uuid4; exposes it as ``request.request_id``, to logging
    (through a contextvar) and in the response header, so a client can quote it in a support request."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_or_generate(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]  # our own attribute
        # Not reset on the way out: Django logs a 4xx/5xx ("django.request") after the middleware chain
        # has returned. ``request_finished`` clears it, and the next request sets its own anyway.
        request_id_var().set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _forget_request_id(**kwargs: Any) -> None:
    request_id_var().set(None)


request_finished.connect(_forget_request_id, dispatch_uid="config.middleware.forget_request_id")


class RequestMetricsMiddleware:
    """Times each request into ``http_request_duration_seconds`` and writes one access-log line.

    Labelled with the matched URL *pattern* (``api/orders/<uuid:pk>/``), never the raw path: paths hold
    ids, and one time series per order would swamp Prometheus. The log line has no query string, body
    or header (personal data, tokens).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "other"
        match = request.resolver_match
        route = match.route if match is not None else "unmatched"
        HTTP_REQUEST_SECONDS.labels(method=method, route=route, status=str(response.status_code)).observe(
            duration
        )
        access_log.info(
            "%s %s %s %.1fms",
            method,
            route,
            response.status_code,
            duration * 1000,
            extra={
                "method": method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 1),
                "user_id": _user_id(request),
            },
        )
        return response


def _user_id(request: HttpRequest) -> int | None:
    # DRF copies the user it authenticated (token) onto the Django request, so this sees it too.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user.pk


class ApiErrorMiddleware:
    """An exception no API view handled answers the error body under /api/, with DEBUG on as well: Django
    would answer its technical 500 page (code, settings, the traceback) there. It is logged and signalled
    as Django does (``django.request``, ``got_request_exception``), so logs and error reporting see it."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, Http404):
            return api_not_found(request)
        if isinstance(exception, DjangoPermissionDenied):
            return JsonResponse(error_body("permission_denied", "you may not do this"), status=403)
        got_request_exception.send(sender=None, request=request)
        request_logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exception,
            extra={"status_code": 500, "request": request},
        )
        return internal_error()
