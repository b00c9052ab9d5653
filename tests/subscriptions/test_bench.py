"""Webhook figures (``make webhook-bench``; skipped otherwise): commit → first attempt latency at 200
events/s, one sender process's deliveries per second, and the latency of the others while one
endpoint times out. Real processes: a fan-out, a sender, and the receiver in a process of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from subscriptions.models import Delivery, Endpoint
from tests.subscriptions.conftest import append_payments

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("WEBHOOK_BENCH"), reason="figures: make webhook-bench"),
]
ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        **extra,
    }


@contextmanager
def processes(*commands: list[str], env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [subprocess.Popen(c, cwd=ROOT, env=env, start_new_session=True) for c in commands]
    try:
        yield started
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


@contextmanager
def receiver_process(secret: str, *hang: str) -> Iterator[int]:
    command = [sys.executable, "-m", "tests.subscriptions.receiver", secret, *[f"--hang={h}" for h in hang]]
    process = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def webhooks(role: str, threads: int = 16) -> list[str]:
    return [sys.executable, "manage.py", "run_webhooks", "--role", role, "--threads", str(threads)]


def write_at(rate: float, seconds: float) -> None:
    """``rate`` events per second for ``seconds``, in small transactions, paced."""
    started, written = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        due = int((time.monotonic() - started) * rate) - written
        if due > 0:
            append_payments(min(due, 20), per_transaction=min(due, 20))
            written += min(due, 20)
        else:
            time.sleep(0.002)


def latencies(endpoints: list[Endpoint]) -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
                       ORDER BY extract(epoch FROM d.first_attempt_at - l.recorded_at)), count(*)
            FROM subscriptions_delivery d JOIN event_log l ON l.position = d.position
            WHERE d.endpoint_id = ANY(%s::uuid[]) AND d.first_attempt_at IS NOT NULL
            """,
            [[str(e.pk) for e in endpoints]],
        )
        (p50, p95, p99), count = cursor.fetchone()
    return {"p50_s": round(p50, 3), "p95_s": round(p95, 3), "p99_s": round(p99, 3), "deliveries": count}


def wait_delivered(endpoints: list[Endpoint], count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(endpoint__in=endpoints, first_attempt_at__isnull=False).count() < count:
        assert time.monotonic() < deadline, "deliveries did not go out"
        time.sleep(0.5)


def test_latency_at_200_events_per_second(secret: str, make_endpoint: Callable[..., Endpoint]) -> None:
    with receiver_process(secret) as port:
        endpoint = make_endpoint(f"http://127.0.0.1:{port}/hook", max_in_flight=32)
        with processes(webhooks("fanout"), webhooks("sender"), env=_env()):
            time.sleep(3)  # the processes start
            write_at(200, 20)
            wait_delivered([endpoint], Delivery.objects.filter(endpoint=endpoint).count())
    figures = latencies([endpoint])
    print(json.dumps({"latency_at_200_per_s": figures}))  # the figures, for the record
    assert figures["p95_s"] <= 1.0 and figures["p99_s"] <= 3.0


def test_deliveries_per_second_of_one_sender(secret: str, make_endpoint: Callable[..., Endpoint]) -> None:
    with receiver_process(secret) as port:
        endpoints = [make_endpoint(f"http://127.0.0.1:{port}/e{i}", max_in_flight=16) for i in range(4)]
        append_payments(2500, per_transaction=100)
        with processes(webhooks("fanout"), env=_env()):
            total = 4 * 2500
            deadline = time.monotonic() + 120
            while Delivery.objects.filter(endpoint__in=endpoints).count() < total:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        with processes(webhooks("sender", threads=32), env=_env()):
            wait_delivered(endpoints, total)
            deadline = time.monotonic() + 120
            while Delivery.objects.filter(endpoint__in=endpoints, state="delivered").count() < total:
                assert time.monotonic() < deadline
                time.sleep(0.5)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM max(delivered_at) - min(first_attempt_at)) FROM subscriptions_delivery"
        )
        seconds = float(cursor.fetchone()[0])
    rate = total / seconds
    print(json.dumps({"deliveries_per_second_one_sender": round(rate, 1), "deliveries": total}))
    assert rate >= 300


def test_one_endpoint_timing_out_leaves_the_others_fast(
    secret: str, make_endpoint: Callable[..., Endpoint], settings: Any
) -> None:
    with receiver_process(secret, "/slow") as port:
        slow = make_endpoint(f"http://127.0.0.1:{port}/slow", max_in_flight=4)
        others = [make_endpoint(f"http://127.0.0.1:{port}/e{i}") for i in range(4)]
        with processes(webhooks("fanout"), webhooks("sender"), env=_env()):
            time.sleep(3)
            write_at(50, 20)
            wait_delivered(others, Delivery.objects.filter(endpoint__in=others).count())
    figures = latencies(others)
    print(
        json.dumps(
            {
                "others_while_one_times_out": figures,
                "slow_attempted": slow.deliveries.filter(first_attempt_at__isnull=False).count(),
            }
        )
    )
    assert figures["p95_s"] <= 1.5
