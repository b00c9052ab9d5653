"""Copies the throttles' decisions onto the response as ``RateLimit-Policy`` / ``RateLimit`` headers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from accounts.throttling import BucketState, TokenBucketThrottle, rate_limit_headers

logger = logging.getLogger(__name__)


class RateLimitHeadersMiddleware:
    """Writes the headers of every DRF response whose view has token-bucket throttles.

    DRF checks authentication and permissions before throttles, so a 401/403 never reached them; for
    those the middleware looks at the bucket without taking a token, so the response still tells the
    client where it stands.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        states: list[BucketState] | None = getattr(request, "rate_limit", None)
        if states is None:
            states = self._peek(request)
        if states:
            for name, value in rate_limit_headers(states).items():
                response[name] = value
        return response

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        # DRF's as_view() keeps the view class on the function; plain Django views have none.
        view_class = getattr(view_func, "cls", None)
        request.rate_limit_throttles = list(getattr(view_class, "throttle_classes", ()))  # type: ignore[attr-defined]  # our own attribute

    @staticmethod
    def _peek(request: HttpRequest) -> list[BucketState]:
        throttles = [
            cls()
            for cls in getattr(request, "rate_limit_throttles", ())
            if issubclass(cls, TokenBucketThrottle)
        ]
        if not throttles or not hasattr(request, "user"):
            return []
        return [state for throttle in throttles if (state := throttle.peek(request)) is not None]
