"""Webhooks with real processes: a fan-out (``run_webhooks --role fanout``), a sender (``--role
sender``) and a receiver (``bench/webhook_receiver.py``), each a process of its own, on the phase's
database. Three measurements, each with endpoints of its own (deleted afterwards, so the next one's
fan-out and sender carry no leftovers):

- latency: events committed at ``rate`` per second for ``seconds``, one endpoint; commit (the event's
  ``recorded_at``) → first attempt (``first_attempt_at``), p50/p95/p99;
- throughput: ``events`` events to each of 4 endpoints, fanned out first, then one sender process with
  32 threads drains them; deliveries per second from its first attempt to its last delivery;
- isolation: one endpoint that never answers (it times out, ``SUBSCRIPTION_READ_TIMEOUT``) beside 4
  that answer; the four's latency at ``slow_rate`` events per second.

The processes take their settings from this process's environment (``env``); the orchestrator points
them at loopback receivers with ``SUBSCRIPTION_ALLOWED_NETWORKS`` and turns the Celery path off.
"""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404  # starts manage.py and the receiver, fixed argument lists
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from bench.phases import Params
from orders import events as e
from orders import store
from subscriptions import fanout, signing
from subscriptions.models import Delivery, DeliveryAttempt, Endpoint

ROOT = Path(__file__).resolve().parents[2]
Env = Mapping[str, str]  # the environment of the processes started: settings module, database, keys


@contextmanager
def processes(*commands: list[str], env: Env) -> Iterator[None]:
    """Run ``commands`` for the block; SIGKILL them (and their children) at its end."""
    started = [
        subprocess.Popen(command, cwd=ROOT, env=dict(env), start_new_session=True)  # nosec B603
        for command in commands
    ]
    try:
        yield
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


@contextmanager
def receiver(secret: str, *hang: str, env: Env) -> Iterator[int]:
    """A receiver process verifying with ``secret``; its port."""
    command = [sys.executable, "-m", "bench.webhook_receiver", secret, *[f"--hang={path}" for path in hang]]
    process = subprocess.Popen(  # nosec B603  # fixed argument list
        command, cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        yield int(process.stdout.readline() if process.stdout else b"")  # the port it listens on
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def webhooks(role: str, threads: int = 16) -> list[str]:
    return [sys.executable, "manage.py", "run_webhooks", "--role", role, "--threads", str(threads)]


def owner() -> Any:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-webhooks", defaults={"email": "bench-webhooks@example.com", "is_staff": True}
    )
    return user


def make_endpoint(url: str, *, secret: str, **fields: Any) -> Endpoint:
    """An endpoint whose fan-out starts at the log's tail: it gets only what commits from now on."""
    endpoint = Endpoint.objects.create(url=url, secret=secret, owner=owner(), **fields)
    fanout.start_cursor(endpoint)
    return endpoint


def append_payments(count: int, *, per_transaction: int = 1) -> None:
    """``count`` PaymentRecorded events, each on a stream of its own, ``per_transaction`` per commit."""
    written = 0
    while written < count:
        with transaction.atomic():
            for _ in range(min(per_transaction, count - written)):
                store.append(uuid4(), 0, [e.PaymentRecorded(amount=1250, reference="bench")])
                written += 1


def write_at(rate: float, seconds: float) -> tuple[int, float]:
    """``rate`` events per second for ``seconds``, in small paced transactions; how many, at what rate."""
    started, written = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        due = min(int((time.monotonic() - started) * rate) - written, 20)
        if due > 0:
            append_payments(due, per_transaction=due)
            written += due
        else:
            time.sleep(0.002)
    return written, written / (time.monotonic() - started)


def latencies(endpoints: list[Endpoint]) -> dict[str, Any]:
    """Commit → first attempt over the endpoints' deliveries, in seconds."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
                       ORDER BY extract(epoch FROM d.first_attempt_at - l.recorded_at)), count(*)
            FROM subscriptions_delivery d JOIN event_log l ON l.position = d.position
            WHERE d.endpoint_id = ANY(%s::uuid[]) AND d.first_attempt_at IS NOT NULL
            """,
            [[str(endpoint.pk) for endpoint in endpoints]],
        )
        (p50, p95, p99), count = cursor.fetchone()
    return {"p50_s": p50, "p95_s": p95, "p99_s": p99, "deliveries": count}


def bad_signatures(endpoints: list[Endpoint]) -> int:
    return DeliveryAttempt.objects.filter(delivery__endpoint__in=endpoints, status_code=401).count()


def wait_for(endpoints: list[Endpoint], count: int, *, timeout: float, **where: Any) -> None:
    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(endpoint__in=endpoints, **where).count() < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} deliveries {where or 'made'} after {timeout:.0f} s")
        time.sleep(0.5)


def latency(*, rate: float, seconds: float, env: Env, timeout: float = 300) -> dict[str, Any]:
    secret = signing.new_secret()
    with receiver(secret, env=env) as port:
        endpoint = make_endpoint(f"http://127.0.0.1:{port}/hook", secret=secret, max_in_flight=32)
        try:
            with processes(webhooks("fanout"), webhooks("sender"), env=env):
                time.sleep(3)  # the processes start
                written, achieved = write_at(rate, seconds)
                wait_for([endpoint], written, timeout=timeout, first_attempt_at__isnull=False)
            return {
                **latencies([endpoint]),
                "target_rate": rate,
                "achieved_rate": achieved,
                "bad_signatures": bad_signatures([endpoint]),
            }
        finally:
            endpoint.delete()


def throughput(*, events: int, env: Env, threads: int = 32, timeout: float = 300) -> dict[str, Any]:
    secret = signing.new_secret()
    with receiver(secret, env=env) as port:
        endpoints = [
            make_endpoint(f"http://127.0.0.1:{port}/e{i}", secret=secret, max_in_flight=16) for i in range(4)
        ]
        try:
            append_payments(events, per_transaction=100)
            total = len(endpoints) * events
            with processes(webhooks("fanout"), env=env):  # every delivery made before the sender starts
                wait_for(endpoints, total, timeout=timeout)
            with processes(webhooks("sender", threads=threads), env=env):
                wait_for(endpoints, total, timeout=timeout, state=Delivery.State.DELIVERED)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT extract(epoch FROM max(delivered_at) - min(first_attempt_at))"
                    " FROM subscriptions_delivery WHERE endpoint_id = ANY(%s::uuid[])",
                    [[str(endpoint.pk) for endpoint in endpoints]],
                )
                seconds = float(cursor.fetchone()[0])
            return {
                "deliveries": total,
                "seconds": seconds,
                "deliveries_per_s": total / seconds,
                "sender_threads": threads,
                "bad_signatures": bad_signatures(endpoints),
            }
        finally:
            Endpoint.objects.filter(pk__in=[endpoint.pk for endpoint in endpoints]).delete()


def isolation(*, rate: float, seconds: float, env: Env, timeout: float = 300) -> dict[str, Any]:
    secret = signing.new_secret()
    with receiver(secret, "/slow", env=env) as port:
        slow = make_endpoint(f"http://127.0.0.1:{port}/slow", secret=secret, max_in_flight=4)
        others = [make_endpoint(f"http://127.0.0.1:{port}/e{i}", secret=secret) for i in range(4)]
        try:
            with processes(webhooks("fanout"), webhooks("sender"), env=env):
                time.sleep(3)
                written, achieved = write_at(rate, seconds)
                wait_for(others, len(others) * written, timeout=timeout, first_attempt_at__isnull=False)
            return {
                **latencies(others),
                "target_rate": rate,
                "achieved_rate": achieved,
                "slow_attempted": slow.deliveries.filter(first_attempt_at__isnull=False).count(),
                "bad_signatures": bad_signatures(others),
            }
        finally:
            Endpoint.objects.filter(pk__in=[slow.pk, *[endpoint.pk for endpoint in others]]).delete()


def run(params: Params) -> dict[str, Any]:
    env = dict(os.environ)
    return {
        "latency": latency(rate=params.get("rate", 200.0), seconds=params.get("seconds", 20.0), env=env),
        "throughput": throughput(events=params.get("events", 2500), env=env),
        "isolation": isolation(
            rate=params.get("slow_rate", 50.0), seconds=params.get("slow_seconds", 20.0), env=env
        ),
        "read_timeout_s": settings.SUBSCRIPTION_READ_TIMEOUT,
    }
