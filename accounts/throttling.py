"""API rate limiting: DRF throttles backed by one atomic token-bucket Lua script in Redis (SPEC §6).

Shaped like DRF's ``throttling.py``: ``BaseThrottle`` is the contract, ``TokenBucketThrottle`` holds the
algorithm with its behaviour set by class attributes, and the leaves only set attributes.

Each throttle that applies to a request records a ``BucketState`` on the Django request
(``request.rate_limit``, a list); ``accounts.middleware.RateLimitHeadersMiddleware`` turns it into the
headers of draft-ietf-httpapi-ratelimit-headers-11 (structured fields)::

    RateLimit-Policy: "write";q=60;w=3
    RateLimit: "write";r=59;t=1

A bucket of ``burst`` tokens refilled at ``rate`` tokens/second maps to ``q = burst`` (quota, in requests)
and ``w = ceil(burst / rate)`` (the seconds an empty bucket takes to refill, so ``q / w`` is the sustained
rate). ``r`` is the whole tokens left and ``t`` the whole seconds until the bucket is full again.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import redis
from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from config.metrics import THROTTLE_DECISIONS

logger = logging.getLogger(__name__)

TOKEN_BUCKET_LUA = (Path(__file__).parent / "token_bucket.lua").read_text()


class ThrottleUnavailable(APIException):
    """The throttle store is down and ``THROTTLE_FAIL_OPEN`` is off: refuse rather than run unlimited."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("rate limiting is unavailable; try again shortly")
    default_code = "throttle_unavailable"


@dataclass(frozen=True)
class BucketState:
    """One throttle's answer for one request, enough to write both RateLimit headers."""

    scope: str
    burst: int
    rate: float
    allowed: bool
    remaining: int | None = None  # None: the store was unreachable, only the policy is known
    retry_after: float = 0.0
    until_full: float = 0.0

    @property
    def policy_item(self) -> str:
        window = max(1, math.ceil(round(self.burst / self.rate, 6)))
        return f'"{self.scope}";q={self.burst};w={window}'

    @property
    def limit_item(self) -> str | None:
        if self.remaining is None:
            return None
        return f'"{self.scope}";r={max(self.remaining, 0)};t={math.ceil(round(self.until_full, 6))}'


def rate_limit_headers(states: list[BucketState]) -> dict[str, str]:
    """The ``RateLimit-Policy`` and ``RateLimit`` fields (structured-field lists) for ``states``."""
    headers = {"RateLimit-Policy": ", ".join(s.policy_item for s in states)}
    limits = [item for s in states if (item := s.limit_item) is not None]
    if limits:
        headers["RateLimit"] = ", ".join(limits)
    return headers


@functools.cache
def _script_for(url: str, timeout: float, max_connections: int) -> Any:
    # Once per process and URL. A blocking pool: past max_connections a thread waits (up to the
    # timeout) for a free connection instead of failing at once, as redis-py's default pool does.
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    # register_script only hashes the source here; it runs by EVALSHA, loading itself on NOSCRIPT.
    return redis.Redis(connection_pool=pool).register_script(TOKEN_BUCKET_LUA)


def token_bucket_script() -> Any:
    """The registered script on the throttle's Redis client (settings-driven, so tests can swap it)."""
    return _script_for(
        settings.THROTTLE_REDIS_URL, settings.THROTTLE_REDIS_TIMEOUT, settings.THROTTLE_REDIS_MAX_CONNECTIONS
    )


def _django_request(request: Any) -> HttpRequest:
    return getattr(request, "_request", request)


class TokenBucketThrottle(BaseThrottle):
    """A token bucket per (scope, identity) in Redis; ``burst``/``rate`` default to THROTTLE_POLICIES."""

    scope: ClassVar[str]
    burst: ClassVar[int | None] = None  # capacity
    rate: ClassVar[float | None] = None  # tokens per second
    cost: ClassVar[int] = 1
    # Which requests the scope covers: None means either way.
    authenticated: ClassVar[bool | None] = None
    safe_methods: ClassVar[bool | None] = None
    ident: ClassVar[Literal["user", "ip"]] = "ip"
    # Whether a request passes while Redis is down: None follows THROTTLE_FAIL_OPEN.
    fail_open: ClassVar[bool | None] = None
    script = staticmethod(token_bucket_script)
    # The clock the bucket refills by, as in DRF's SimpleRateThrottle: tests move time instead of
    # sleeping. The script never moves a bucket's time backwards (token_bucket.lua says why).
    timer = staticmethod(time.time)

    def __init__(self) -> None:
        # Read per instance (DRF makes one per request), so settings overrides take effect at once.
        burst, rate = self.burst, self.rate
        if burst is None or rate is None:
            default_burst, default_rate = settings.THROTTLE_POLICIES[self.scope]
            burst = default_burst if burst is None else burst
            rate = default_rate if rate is None else rate
        self.capacity = int(burst)
        self.per_second = float(rate)
        self.state: BucketState | None = None

    def applies(self, request: Any) -> bool:
        if self.authenticated is not None and bool(request.user.is_authenticated) != self.authenticated:
            return False
        return self.safe_methods is None or (request.method in SAFE_METHODS) == self.safe_methods

    def get_cache_key(self, request: Any) -> str:
        who = f"user:{request.user.pk}" if self.ident == "user" else f"ip:{self.get_ident(request)}"
        return f"{settings.THROTTLE_KEY_PREFIX}{self.scope}:{who}"

    def allow_request(self, request: Any, view: Any) -> bool:
        if not settings.THROTTLE_ENABLED or not self.applies(request):
            return True
        try:
            self.state = self._take(request, self.cost)
        except redis.RedisError as exc:
            return self._store_down(request, exc)
        self._record(request, self.state)
        THROTTLE_DECISIONS.labels(self.scope, "allowed" if self.state.allowed else "limited").inc()
        return self.state.allowed

    def peek(self, request: Any) -> BucketState | None:
        """The bucket as it stands, taking nothing (for responses refused before throttling ran)."""
        if not settings.THROTTLE_ENABLED or not self.applies(request):
            return None
        try:
            return self._take(request, cost=0)
        except redis.RedisError:
            return None

    def wait(self) -> float | None:
        return self.state.retry_after if self.state is not None else None

    def _take(self, request: Any, cost: int) -> BucketState:
        allowed, remaining, retry_after, until_full = self.script()(
            keys=[self.get_cache_key(request)], args=[self.capacity, self.per_second, cost, self.timer()]
        )
        return BucketState(
            self.scope,
            self.capacity,
            self.per_second,
            bool(allowed),
            int(remaining),
            float(retry_after),
            float(until_full),
        )

    def _store_down(self, request: Any, exc: redis.RedisError) -> bool:
        fail_open = settings.THROTTLE_FAIL_OPEN if self.fail_open is None else self.fail_open
        # Only the scope and the error's class: no user, IP or key (personal data) in the log.
        outcome = "fail_open" if fail_open else "fail_closed"
        logger.warning(
            "throttle store unavailable (%s); scope %s: %s", type(exc).__name__, self.scope, outcome
        )
        THROTTLE_DECISIONS.labels(self.scope, outcome).inc()
        if fail_open:
            self._record(request, BucketState(self.scope, self.capacity, self.per_second, allowed=True))
            return True
        raise ThrottleUnavailable from exc

    @staticmethod
    def _record(request: Any, state: BucketState) -> None:
        django_request = _django_request(request)
        states: list[BucketState] = getattr(django_request, "rate_limit", [])
        django_request.rate_limit = [*states, state]  # type: ignore[attr-defined]  # our own attribute


class ReadThrottle(TokenBucketThrottle):
    scope = "read"
    authenticated = True
    safe_methods = True
    ident = "user"


class WriteThrottle(TokenBucketThrottle):
    scope = "write"
    authenticated = True
    safe_methods = False
    ident = "user"


class AnonymousThrottle(TokenBucketThrottle):
    scope = "anon"
    authenticated = False
    ident = "ip"


class TokenThrottle(TokenBucketThrottle):
    """For ``POST /api/auth/token/``: strict and per IP, whoever asks (password guessing). Without Redis
    it refuses whatever THROTTLE_FAIL_OPEN says: passwords must never be guessable without a limit."""

    scope = "token"
    ident = "ip"
    fail_open = False
