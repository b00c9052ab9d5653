"""End to end with a real Celery worker process (and its beat) on the Redis broker.

The worker is a separate process reading the test database; it is killed with SIGKILL mid-work to
show that at-least-once delivery plus transactional checkpoints lose and double nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from orders.models import Product, StoredEvent
from projections.models import OrderSummary, ProjectionCheckpoint
from projections.projectors import PROJECTORS
from projections.status import projection_status
from tests.projections.workload import (
    assert_read_model_matches_write_side,
    order_lifecycle,
    staff_and_customers,
    writing_transaction_elsewhere,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, queue: str, schedule_dir: Path, **env: str) -> None:
        self.queue, self.schedule_dir, self.env = queue, schedule_dir, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "PROJECTION_CATCH_UP_INTERVAL": "0.5",
            **self.env,
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--beat",
            "--pool=solo",
            "--queues",
            self.queue,
            "--schedule",
            str(self.schedule_dir / "beat-schedule"),
            "--loglevel=WARNING",
            "--without-mingle",
            "--without-gossip",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(30)
        self.process = None


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    queue = f"test-projections-{uuid4().hex[:8]}"
    started: list[WorkerProcess] = []
    previous_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # this process's nudges go to the test worker's queue

    def start(**env: str) -> WorkerProcess:
        process = WorkerProcess(queue, tmp_path, **env)
        process.start()
        started.append(process)
        return process

    yield start
    celery_app.conf.task_default_queue = previous_queue
    for process in started:
        process.kill()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def caught_up() -> bool:
    statuses = projection_status()
    return all(s.lag_events == 0 and s.state == "running" for s in statuses) and (
        ProjectionCheckpoint.objects.filter(name__in=PROJECTORS).count() == len(PROJECTORS)
    )


def test_the_worker_projects_commands_and_survives_a_kill_9(
    worker: Callable[..., WorkerProcess],
    settings: Any,
    make_user: Callable[..., Any],
    make_product: Callable[..., Product],
) -> None:
    settings.PROJECTION_NUDGE_ON_COMMIT = True
    staff, customers = staff_and_customers(make_user, 3)
    skus = [make_product(stock=100_000).sku for _ in range(4)]
    rng = random.Random(5)
    for i in range(40):  # the nudges queue up in Redis until a worker starts
        order_lifecycle(rng, customer=customers[i % 3], staff=staff, skus=skus)

    first = worker(PROJECTION_BATCH_SIZE="2")
    wait_for(
        lambda: ProjectionCheckpoint.objects.filter(events_applied__gt=0).exists(),
        timeout=30,
        what="the worker to start projecting",
    )
    first.kill(signal.SIGKILL)  # mid-work: the batch in flight is rolled back by PostgreSQL
    assert any(s.lag_events > 0 for s in projection_status()), "the worker was killed before it finished"
    for i in range(10):  # traffic goes on while no worker runs; the nudges wait in Redis
        order_lifecycle(rng, customer=customers[i % 3], staff=staff, skus=skus)

    worker(PROJECTION_BATCH_SIZE="5")
    wait_for(caught_up, timeout=90, what="the restarted worker to catch up")

    assert_read_model_matches_write_side()
    total = StoredEvent.objects.count()
    assert dict(ProjectionCheckpoint.objects.values_list("name", "events_applied")) == dict.fromkeys(
        PROJECTORS, total
    )


def test_beat_alone_brings_the_read_side_up_to_date_when_nudges_are_lost(
    worker: Callable[..., WorkerProcess],
    settings: Any,
    make_user: Callable[..., Any],
    make_product: Callable[..., Product],
) -> None:
    settings.PROJECTION_NUDGE_ON_COMMIT = False  # every on-commit message is "lost"
    staff, customers = staff_and_customers(make_user, 2)
    skus = [make_product(stock=100_000).sku for _ in range(3)]
    rng = random.Random(9)
    worker()
    for i in range(10):
        order_lifecycle(rng, customer=customers[i % 2], staff=staff, skus=skus)

    wait_for(caught_up, timeout=30, what="beat to catch the projections up")
    assert_read_model_matches_write_side()


def delayed_runs(queue: str) -> int:
    """Catch-up runs scheduled for later (rechecks) that are waiting in the queue or held by a worker
    until they are due (kombu keeps delivered, unacknowledged messages in its ``unacked`` hash)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    messages += [
        message
        for message, _, routing_key in map(json.loads, client.hvals("unacked"))
        if routing_key == queue
    ]
    return sum(
        1
        for message in messages
        if message["headers"]["task"] == "projections.tasks.run_projections" and message["headers"].get("eta")
    )


def test_a_transaction_held_open_elsewhere_is_named_rechecked_once_and_outlived(
    worker: Callable[..., WorkerProcess], client: Any, settings: Any, placed_order: Callable[..., Any]
) -> None:
    settings.READINESS_REQUIRE_WORKER = False
    settings.PROJECTION_HORIZON_HELD_THRESHOLD = 1.0
    queue = celery_app.conf.task_default_queue
    worker()
    placed_order()
    wait_for(caught_up, timeout=30, what="the worker to start projecting")

    # The server ends the session after 6 s idle, as idle_in_transaction_session_timeout does.
    with writing_transaction_elsewhere(idle_timeout=6, application_name="left open") as pid:
        order_id = placed_order()
        most_delayed, named = 0, None
        deadline = time.monotonic() + 4  # eight beat ticks, each finding the order held back
        while time.monotonic() < deadline:
            most_delayed = max(most_delayed, delayed_runs(queue))
            check = client.get("/readyz").json()["checks"]["projections"]
            named = check.get("horizon_held_by") or named
            time.sleep(0.1)
        assert not OrderSummary.objects.filter(pk=order_id).exists()
        # One chain: the pending recheck, and the running one, which is acknowledged when it ends.
        assert most_delayed <= 2, f"{most_delayed} rechecks pending at once"
        assert named is not None and named["pid"] == pid and named["application_name"] == "left open"
        assert named["state"] == "idle in transaction" and named["database"] == "postgres"

        # Nobody ends it: the server does, and the read side catches up by itself.
        wait_for(lambda: OrderSummary.objects.filter(pk=order_id).exists(), timeout=30, what="catching up")
    assert client.get("/readyz").status_code == 200
