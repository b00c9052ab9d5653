"""POST to a checked destination with urllib3: to the resolved address, short timeouts, no redirects,
no retries (the schedule in PostgreSQL retries), and only the first 4 KB of the answer read."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import urllib3
from django.conf import settings

from subscriptions.ssrf import Destination

RESPONSE_EXCERPT_BYTES = 4096
_DRAIN_LIMIT = 65536
_pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()
# Connections kept per destination: as many as a process's sender threads may use at once (several
# endpoints can share one receiver). A smaller pool opens and drops a connection per request beyond it.
_pool_size = 8


def fit_pools(threads: int) -> None:
    """Size the pools made from now on for ``threads`` concurrent requests (the sender calls it first)."""
    global _pool_size  # one process-wide figure, set once at the sender's start
    with _pools_lock:
        _pool_size = max(_pool_size, threads)


@dataclass(frozen=True)
class Response:
    status: int | None
    retry_after: str | None
    excerpt: str
    error: str
    duration_ms: int


def _pool(destination: Destination) -> urllib3.HTTPConnectionPool:
    """One pool per (scheme, address, port, host): connections are kept between deliveries."""
    key = (destination.scheme, destination.address, destination.port, destination.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            timeout = urllib3.Timeout(
                connect=settings.SUBSCRIPTION_CONNECT_TIMEOUT, read=settings.SUBSCRIPTION_READ_TIMEOUT
            )
            if destination.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    destination.address,
                    destination.port,
                    timeout=timeout,
                    maxsize=_pool_size,
                    block=False,
                    retries=False,
                    server_hostname=destination.host,  # SNI and the certificate check name the host
                    assert_hostname=destination.host,
                )
            else:
                pool = urllib3.HTTPConnectionPool(
                    destination.address,
                    destination.port,
                    timeout=timeout,
                    maxsize=_pool_size,
                    block=False,
                    retries=False,
                )
            _pools[key] = pool
        return pool


def post(destination: Destination, *, body: bytes, headers: dict[str, str]) -> Response:
    host = destination.host if ":" not in destination.host else f"[{destination.host}]"
    default_port = 443 if destination.scheme == "https" else 80
    host_header = host if destination.port == default_port else f"{host}:{destination.port}"
    started = time.monotonic()
    try:
        answer = _pool(destination).urlopen(
            "POST",
            destination.target,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
    except urllib3.exceptions.HTTPError as exc:
        return Response(None, None, "", _describe(exc), _ms(started))
    try:
        excerpt = answer.read(RESPONSE_EXCERPT_BYTES, decode_content=False) or b""
        remaining = answer.length_remaining
        if remaining is not None and remaining <= _DRAIN_LIMIT:
            answer.drain_conn()  # a short rest: read it, and the connection serves the next delivery
            answer.release_conn()
        else:
            answer.close()  # long or unbounded: a slow trickle must not hold a sender thread
    except urllib3.exceptions.HTTPError:
        excerpt = b""
        answer.close()
    return Response(
        answer.status,
        answer.headers.get("Retry-After"),
        excerpt.decode("utf-8", "replace"),
        "",
        _ms(started),
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "connection reset or closed"
    return f"connection failed ({type(exc).__name__})"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
