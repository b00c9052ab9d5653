"""Password-guessing limit for the admin login form, on the token bucket of ``POST /api/auth/token/``.

Both doors check the same passwords, so they spend one bucket per client address (scope ``token``:
10 tries at once, then 10 a minute by default): an attacker gains nothing by alternating between
them. Every POST counts, as on the token endpoint; the refill is quick enough for a person who mistyped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.throttling import ThrottleUnavailable, TokenThrottle

logger = logging.getLogger(__name__)

UNAVAILABLE_RETRY_AFTER = 5  # seconds: the throttle's store is down, ask again shortly


class AdminLoginThrottle(TokenThrottle):
    """The token endpoint's throttle (same scope, so the same bucket), applied to a Django view."""


class AdminLoginThrottleMiddleware:
    """Refuses ``POST`` to the admin login view with 429 once the client's bucket is empty.

    A middleware rather than an ``AdminSite`` subclass, so the admin's own site and templates stay as
    they are. It matches the view by name, wherever the admin is mounted.
    """

    view_name = "admin:login"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name != self.view_name:
            return None
        throttle = AdminLoginThrottle()
        try:
            if throttle.allow_request(request, view_func):
                return None  # the bucket state is on the request: RateLimitHeadersMiddleware writes it
        except ThrottleUnavailable as exc:  # the token endpoint's throttle fails closed, whatever the setting
            response: HttpResponse = JsonResponse(
                {"error": {"code": exc.default_code, "message": str(exc.detail), "details": {}}}, status=503
            )
            response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
            return response
        # No address or username in the log: the throttle's counter already records the refusal.
        logger.warning("admin login refused: too many attempts from one address")
        retry_after = max(1, math.ceil(throttle.wait() or 0))
        response = HttpResponse(
            f"Too many login attempts; try again in {retry_after} seconds.\n",
            status=429,
            content_type="text/plain",
        )
        response["Retry-After"] = str(retry_after)
        return response
