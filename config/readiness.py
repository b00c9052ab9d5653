"""The checks behind ``/readyz``, each named in ``settings.READINESS_CHECKS``.

A check is ``check(*, budget: float) -> dict`` whose dict has ``status`` "ok", "fail" or "skipped"
plus details that are safe to show anyone: no URLs, hostnames, credentials, error texts or personal
data. Raising counts as "fail". ``budget`` is the seconds the check may take; ``config.health`` stops
waiting after it anyway, so a check should also bound its own I/O to let its thread finish.
"""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import worker_heartbeat
from config.celery import app

CheckResult = dict[str, Any]


def check_database(*, budget: float) -> CheckResult:
    with transaction.atomic():
        statement_timeout(budget)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    return {"status": "ok"}


def check_redis(*, budget: float) -> CheckResult:
    # One attempt, no retries: the probe itself asks again in a few seconds.
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=budget, socket_timeout=budget, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    finally:
        client.close()
    return {"status": "ok"}


def check_worker(*, budget: float) -> CheckResult:
    """Some Celery worker consuming this application's task queue beat within its heartbeat's TTL.

    Reads the workers' heartbeat keys (config.worker_heartbeat) instead of a broadcast, which waits its
    whole timeout for replies; a worker of another application or queue on the same Redis never counts.
    """
    if not settings.READINESS_REQUIRE_WORKER:
        return {"status": "skipped", "reason": "not required on this node"}
    client = worker_heartbeat.client(timeout=budget)
    try:
        serving = worker_heartbeat.live_workers(client, queue=app.conf.task_default_queue)
    finally:
        client.close()
    if not serving:
        return {"status": "fail", "reason": "no worker of the task queue beat recently"}
    return {"status": "ok", "workers": serving}


def statement_timeout(budget: float) -> None:
    """Bound the queries of the current transaction, so a stuck database frees the check's thread."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)", [f"{max(int(budget * 1000), 1)}ms"]
        )
