"""Rate limiting against the real Redis: the token bucket, its keys, headers, metrics and Redis outages."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from prometheus_client import REGISTRY
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from accounts.throttling import (
    AnonymousThrottle,
    ReadThrottle,
    TokenBucketThrottle,
    WriteThrottle,
)
from tests.clock import FakeClock
from tests.conftest import run_in_threads

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once
POLICY = re.compile(r'^"(?P<scope>[a-z]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
LIMIT = re.compile(r'^"(?P<scope>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')
_user_ids = itertools.count(10_000)
factory = APIRequestFactory()
pytestmark = pytest.mark.urls("tests.accounts.throttling_urls")


class HundredBucket(TokenBucketThrottle):
    scope = "hundred"
    burst = 100
    rate = 1e-6  # negligible refill: the burst is all there is


class FastRefillBucket(TokenBucketThrottle):
    scope = "fast"
    burst = 1
    rate = 20.0


class SecondBucket(TokenBucketThrottle):
    scope = "second"
    burst = 1
    rate = 1.0


class WideBucket(TokenBucketThrottle):
    scope = "wide"
    burst = 100
    rate = 1.0


def on_clock(throttle: TokenBucketThrottle, clock: FakeClock) -> TokenBucketThrottle:
    """``throttle`` reading ``clock``: one web node, with that node's clock."""
    throttle.timer = clock  # type: ignore[misc]
    return throttle


@pytest.fixture(autouse=True)
def throttle_keys(settings: Any) -> Iterator[str]:
    """Buckets under a prefix of this test's own, deleted afterwards (other keys stay untouched)."""
    prefix = f"throttle-test-{uuid4().hex}:"
    settings.THROTTLE_KEY_PREFIX = prefix
    settings.THROTTLE_ENABLED = True
    settings.THROTTLE_FAIL_OPEN = True
    yield prefix
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def small_policies(settings: Any) -> None:
    # Two requests, then (practically) no refill during a test.
    settings.THROTTLE_POLICIES = {scope: (2, 0.01) for scope in ("read", "write", "anon", "token")}


def user() -> User:
    return User(pk=next(_user_ids), username="t")  # unsaved: the throttle only needs pk and is_authenticated


def drf_request(method: str = "get", *, as_user: User | None = None, ip: str = "198.51.100.1") -> Request:
    request = Request(getattr(factory, method)("/api/ping/", REMOTE_ADDR=ip))
    request.user = as_user if as_user is not None else AnonymousUser()
    return request


def decisions(scope: str, decision: str) -> float:
    return (
        REGISTRY.get_sample_value("throttle_decisions_total", {"scope": scope, "decision": decision}) or 0.0
    )


# --- the bucket ------------------------------------------------------------------------------------------


def test_200_concurrent_requests_take_exactly_the_100_tokens_of_the_bucket() -> None:
    requests = [drf_request() for _ in range(200)]
    results = run_in_threads(lambda i: HundredBucket().allow_request(requests[i], None), 200)

    assert all(isinstance(r, bool) for r in results), results
    assert sum(results) == 100


def test_a_spent_bucket_refills_at_its_rate(fake_clock: FakeClock) -> None:
    request = drf_request()
    assert on_clock(FastRefillBucket(), fake_clock).allow_request(request, None)
    throttle = on_clock(FastRefillBucket(), fake_clock)
    assert not throttle.allow_request(request, None)
    assert throttle.wait() == pytest.approx(1 / 20)

    fake_clock.advance(0.045)  # not yet: nine tenths of a token
    assert not on_clock(FastRefillBucket(), fake_clock).allow_request(request, None)
    fake_clock.advance(0.006)
    assert on_clock(FastRefillBucket(), fake_clock).allow_request(request, None)


def test_a_clock_behind_the_buckets_time_refills_nothing_and_waits_for_it(fake_clock: FakeClock) -> None:
    """Web nodes' clocks differ: the bucket's time never moves backwards, so alternating between a node
    10 s ahead and one behind hands out the lead once, not on every switch."""
    behind, ahead = fake_clock, FakeClock(start=fake_clock.start + 10)
    request = drf_request()

    def take(clock: FakeClock) -> bool:
        return on_clock(SecondBucket(), clock).allow_request(request, None)

    assert take(behind)  # the full bucket's one token
    assert take(ahead)  # the lead, once: 10 s of refill, capped at the burst
    assert [take(clock) for clock in (behind, ahead) * 5] == [False] * 10

    behind.advance(1)
    ahead.advance(1)
    late = on_clock(SecondBucket(), behind)
    assert not late.allow_request(request, None)  # its second is still before the bucket's time
    assert late.wait() == pytest.approx(9 + 1)  # until its clock passes the bucket's time, plus a token
    assert take(ahead)


def test_concurrent_requests_on_clocks_that_disagree_get_the_burst_and_the_lead_at_most(
    fake_clock: FakeClock,
) -> None:
    """200 requests at once, half on a node 10 s ahead: 100 tokens and at most the 10 s lead once."""
    behind, ahead = fake_clock, FakeClock(start=fake_clock.start + 10)
    requests = [drf_request() for _ in range(200)]
    results = run_in_threads(
        lambda i: on_clock(WideBucket(), (behind, ahead)[i % 2]).allow_request(requests[i], None), 200
    )

    assert all(isinstance(r, bool) for r in results), results
    assert 100 <= sum(results) <= 110


@pytest.mark.usefixtures("small_policies")
def test_reads_and_writes_of_one_user_have_separate_buckets() -> None:
    alice = user()
    assert all(ReadThrottle().allow_request(drf_request(as_user=alice), None) for _ in range(2))
    assert not ReadThrottle().allow_request(drf_request(as_user=alice), None)

    assert WriteThrottle().allow_request(drf_request("post", as_user=alice), None)


@pytest.mark.usefixtures("small_policies")
def test_two_users_do_not_share_a_bucket_even_from_one_ip() -> None:
    alice, bob = user(), user()
    assert all(ReadThrottle().allow_request(drf_request(as_user=alice), None) for _ in range(2))
    assert not ReadThrottle().allow_request(drf_request(as_user=alice), None)

    assert ReadThrottle().allow_request(drf_request(as_user=bob), None)


@pytest.mark.usefixtures("small_policies")
def test_anonymous_clients_are_keyed_by_ip() -> None:
    assert all(AnonymousThrottle().allow_request(drf_request(ip="203.0.113.5"), None) for _ in range(2))
    assert not AnonymousThrottle().allow_request(drf_request(ip="203.0.113.5"), None)

    assert AnonymousThrottle().allow_request(drf_request(ip="203.0.113.6"), None)


def test_a_throttle_whose_scope_does_not_apply_passes_without_redis(settings: Any) -> None:
    settings.THROTTLE_REDIS_URL = DEAD_REDIS  # touching Redis would count a fail_open
    before = decisions("read", "fail_open") + decisions("write", "fail_open") + decisions("anon", "fail_open")
    anonymous_get, user_post = drf_request(), drf_request("post", as_user=user())

    assert ReadThrottle().allow_request(anonymous_get, None)
    assert WriteThrottle().allow_request(anonymous_get, None)
    assert ReadThrottle().allow_request(user_post, None)
    assert AnonymousThrottle().allow_request(user_post, None)

    after = decisions("read", "fail_open") + decisions("write", "fail_open") + decisions("anon", "fail_open")
    assert after == before
    assert not hasattr(anonymous_get._request, "rate_limit")
    assert not hasattr(user_post._request, "rate_limit")


@pytest.mark.usefixtures("small_policies")
def test_allowed_and_limited_decisions_are_counted() -> None:
    allowed, limited = decisions("anon", "allowed"), decisions("anon", "limited")
    for _ in range(3):
        AnonymousThrottle().allow_request(drf_request(ip="203.0.113.9"), None)

    assert decisions("anon", "allowed") == allowed + 2
    assert decisions("anon", "limited") == limited + 1


def test_disabled_throttling_lets_everything_through(settings: Any) -> None:
    settings.THROTTLE_ENABLED = False
    assert all(HundredBucket().allow_request(drf_request(), None) for _ in range(150))


# --- over HTTP: headers, 429, envelope -------------------------------------------------------------------


def test_default_policies_advertise_burst_as_q_and_refill_time_as_w() -> None:
    client = APIClient()
    client.force_authenticate(user())
    read, write = client.get("/api/ping/"), client.post("/api/ping/", {}, format="json")
    anon, token = APIClient().get("/api/ping/"), APIClient().post("/api/token/", {}, format="json")

    assert read["RateLimit-Policy"] == '"read";q=200;w=4'
    assert write["RateLimit-Policy"] == '"write";q=60;w=3'
    assert write["RateLimit"] == '"write";r=59;t=1'
    assert anon["RateLimit-Policy"] == '"anon";q=30;w=60'
    assert token["RateLimit-Policy"] == '"token";q=10;w=60'
    assert token["RateLimit"] == '"token";r=9;t=6'


@pytest.mark.usefixtures("small_policies")
def test_allowed_and_429_responses_carry_well_formed_headers() -> None:
    client = APIClient(REMOTE_ADDR="203.0.113.20")
    responses = [client.get("/api/ping/") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    for response in responses:
        policy, limit = POLICY.match(response["RateLimit-Policy"]), LIMIT.match(response["RateLimit"])
        assert policy and limit, (response["RateLimit-Policy"], response["RateLimit"])
        assert policy["scope"] == limit["scope"] == "anon"
        assert (policy["q"], policy["w"]) == ("2", "200")
    assert [LIMIT.match(r["RateLimit"])["r"] for r in responses] == ["1", "0", "0"]  # type: ignore[index]  # no match fails the test
    assert 0 < int(LIMIT.match(responses[2]["RateLimit"])["t"]) <= 200  # type: ignore[index]  # no match fails the test


@pytest.mark.usefixtures("small_policies")
def test_429_answers_the_error_envelope_with_retry_after() -> None:
    client = APIClient()
    client.force_authenticate(user())
    client.post("/api/ping/", {}, format="json")
    client.post("/api/ping/", {}, format="json")
    response = client.post("/api/ping/", {}, format="json")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    # One token at 0.01/s is 100 s away.
    assert 90 <= int(response["Retry-After"]) <= 100


@pytest.mark.usefixtures("small_policies")
def test_a_401_still_tells_the_bucket_without_spending_it() -> None:
    client = APIClient(REMOTE_ADDR="203.0.113.30")
    client.get("/api/ping/")
    refused = [client.get("/api/private/") for _ in range(3)]

    assert [r.status_code for r in refused] == [401, 401, 401]
    assert all(r["RateLimit-Policy"] == '"anon";q=2;w=200' for r in refused)
    assert all(LIMIT.match(r["RateLimit"])["r"] == "1" for r in refused)  # type: ignore[index]  # no match fails the test


@pytest.mark.usefixtures("small_policies")
def test_the_token_view_has_its_own_strict_bucket_per_ip() -> None:
    client = APIClient(REMOTE_ADDR="203.0.113.40")
    statuses = [client.post("/api/token/", {}, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert client.get("/api/ping/").status_code == 200  # the anonymous bucket is another one
    assert APIClient(REMOTE_ADDR="203.0.113.41").post("/api/token/", {}, format="json").status_code == 200


# --- Redis down ------------------------------------------------------------------------------------------


def test_redis_down_fails_open_logged_and_counted(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    before = decisions("anon", "fail_open")

    with caplog.at_level(logging.WARNING, logger="accounts.throttling"):
        response = APIClient(REMOTE_ADDR="203.0.113.50").get("/api/ping/")

    assert response.status_code == 200
    assert decisions("anon", "fail_open") == before + 1
    assert response["RateLimit-Policy"] == '"anon";q=30;w=60'
    assert "RateLimit" not in response  # the remaining quota is unknown
    assert "fail_open" in caplog.text
    assert "203.0.113.50" not in caplog.text


def test_redis_down_with_fail_open_off_answers_503(settings: Any) -> None:
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    settings.THROTTLE_FAIL_OPEN = False
    before = decisions("write", "fail_closed")
    client = APIClient()
    client.force_authenticate(user())

    response = client.post("/api/ping/", {}, format="json")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "throttle_unavailable"
    assert decisions("write", "fail_closed") == before + 1
