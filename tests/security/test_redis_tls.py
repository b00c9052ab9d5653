"""``rediss://`` for every Redis client: the Django cache, the throttle and the Celery broker (kombu).

The embedded Redis has no TLS, so a small TLS-terminating relay with a self-signed certificate stands in
front of it on a loopback port, as stunnel or a managed Redis's TLS endpoint would.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
import redis
from celery import Celery
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.throttling import TokenThrottle
from config.redis_tls import broker_use_ssl
from tests.security.certs import CertPair, self_signed


class TlsRelay:
    """Accepts TLS on 127.0.0.1 and relays the plaintext to the test Redis (unix socket or TCP)."""

    def __init__(self, cert: CertPair, upstream_url: str) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert.cert, cert.key)
        self.upstream = urlsplit(upstream_url)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> TlsRelay:
        self.thread.start()
        assert self.ready.wait(10), "the TLS relay did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()
            # Let open relays run their clean-up on a live loop before it closes.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream.scheme == "unix":
            return await asyncio.open_unix_connection(self.upstream.path)
        return await asyncio.open_connection(self.upstream.hostname, self.upstream.port or 6379)

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        upstream_in, upstream_out = await self._open_upstream()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(client_in, upstream_out), pipe(upstream_in, client_out))


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    return self_signed(tmp_path_factory.mktemp("redis-tls"))


@pytest.fixture
def relay(cert: CertPair) -> Iterator[TlsRelay]:
    if urlsplit(django_settings.REDIS_URL).scheme not in ("unix", "redis"):
        pytest.skip("the relay speaks plaintext to a redis:// or unix:// server")
    with TlsRelay(cert, django_settings.REDIS_URL) as running:
        yield running


def verified_url(relay: TlsRelay, cert: CertPair) -> str:
    db = urlsplit(django_settings.REDIS_URL).path.lstrip("/") or "0"
    return f"rediss://127.0.0.1:{relay.port}/{db if db.isdigit() else 0}?ssl_ca_certs={cert.cert}"


def test_the_django_cache_talks_to_redis_over_verified_tls(relay: TlsRelay, cert: CertPair) -> None:
    cache = RedisCache(verified_url(relay, cert), {"KEY_PREFIX": f"tls-test-{uuid4().hex}"})

    cache.set("greeting", "hello", timeout=30)

    assert cache.get("greeting") == "hello"
    cache.delete("greeting")


def test_the_throttle_takes_its_tokens_over_tls(relay: TlsRelay, cert: CertPair, settings: Any) -> None:
    settings.THROTTLE_REDIS_URL = verified_url(relay, cert)
    settings.THROTTLE_FAIL_OPEN = False  # an unreachable store would raise instead of passing silently
    request = Request(APIRequestFactory().post("/api/auth/token/", REMOTE_ADDR="198.51.100.77"))
    request.user = AnonymousUser()
    throttle = TokenThrottle()

    assert throttle.allow_request(request, None)
    assert throttle.state is not None and throttle.state.remaining == throttle.capacity - 1


def test_the_celery_broker_verifies_the_redis_certificate(relay: TlsRelay, cert: CertPair) -> None:
    unverifiable = verified_url(relay, cert).split("?")[0]  # no CA given: the self-signed cert is unknown
    app = Celery("tls-test", broker=unverifiable)
    app.conf.broker_use_ssl = broker_use_ssl(unverifiable)
    app.conf.broker_connection_retry_on_startup = False

    with pytest.raises(Exception) as refused, app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0)
    assert "CERTIFICATE_VERIFY_FAILED" in repr(refused.value) + repr(refused.value.__cause__)


def test_celery_messages_travel_over_verified_tls(relay: TlsRelay, cert: CertPair) -> None:
    url = verified_url(relay, cert)
    app = Celery("tls-test", broker=url)
    app.conf.broker_use_ssl = broker_use_ssl(url)
    queue_name = f"tls-test-{uuid4().hex}"

    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(queue_name)
        queue.put({"hello": "over tls"})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.payload == {"hello": "over tls"}
    redis.Redis.from_url(django_settings.REDIS_URL).delete(queue_name)
