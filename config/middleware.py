"""Request id and request metrics/access log, for every request (API, admin, operations endpoints)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from config.metrics import HTTP_REQUEST_SECONDS
from config.request_context import REQUEST_ID_HEADER, accept_or_generate, request_id_var

GetResponse = Callable[[HttpRequest], HttpResponse]
access_log = logging.getLogger("config.requests")

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
