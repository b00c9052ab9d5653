"""Concurrent rebuild requests end to end: through the API and through the Celery task, run by real
worker processes on the Redis broker. Whatever arrives at once, one rebuild per projection runs at a
time and the live tables end equal to a fresh fold of the log."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from bench.phases.rebuild import generate
from config.celery import app as celery_app
from orders.models import Product
from projections.models import DailySales, OrderSummary, ProjectionCheckpoint
from projections.tasks import rebuild_projection
from tests.conftest import project_everything, run_in_threads
from tests.projections.test_celery_worker import WorkerProcess, wait_for
from tests.projections.test_rebuild_guard import copy_schemas
from tests.projections.workload import (
    READ_MODELS,
    assert_read_model_matches_write_side,
    order_lifecycle,
    staff_and_customers,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

REBUILD_TASK = rebuild_projection.name


@pytest.fixture
def manager_with_orders(make_user: Callable[..., Any], make_product: Callable[..., Product]) -> Any:
    """Orders through realistic paths, and enough more that a rebuild takes several batches."""
    staff, customers = staff_and_customers(make_user, 3)
    skus = [make_product(stock=100_000).sku for _ in range(4)]
    rng = random.Random(17)
    for i in range(20):
        order_lifecycle(rng, customer=customers[i % 3], staff=staff, skus=skus)
    generate(12_000, customers=50)
    project_everything()
    return staff


def table_oids() -> dict[str, int]:
    """A rebuild swaps new tables in: their identity says whether one completed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, oid FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relname = ANY(%s)",
            [[model._meta.db_table for model in READ_MODELS]],
        )
        return dict(cursor.fetchall())


def rebuild_settled(name: str) -> bool:
    checkpoint = ProjectionCheckpoint.objects.get(name=name)
    return checkpoint.state == "running" and checkpoint.rebuild_requested_at is None


def test_concurrent_rebuild_requests_through_the_api_queue_one_rebuild(
    worker: Callable[..., WorkerProcess], manager_with_orders: Any
) -> None:
    worker()

    def post(i: int) -> tuple[int, str | None]:
        api = APIClient()
        api.force_authenticate(manager_with_orders)
        response = api.post("/api/projections/daily_sales/rebuild/")
        return response.status_code, response.json().get("error", {}).get("code")

    answers = run_in_threads(post, 6)

    assert sorted(answers) == [(202, None)] + [(409, "rebuild_in_progress")] * 5, answers
    wait_for(lambda: rebuild_settled("daily_sales"), timeout=60, what="the worker to rebuild daily_sales")
    assert_read_model_matches_write_side()  # the live tables equal a fresh fold of the log
    assert copy_schemas() == []
    api = APIClient()
    api.force_authenticate(manager_with_orders)
    assert api.post("/api/projections/daily_sales/rebuild/").status_code == 202  # done: not blocking
    wait_for(lambda: rebuild_settled("daily_sales"), timeout=60, what="the second rebuild")


def test_concurrent_rebuild_tasks_on_several_workers_rebuild_one_at_a_time(
    worker: Callable[..., WorkerProcess],
    manager_with_orders: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = table_oids()
    names = [f"rebuild-{i}@test" for i in range(3)]
    first = worker(CELERY_WORKER_HOSTNAME=names[0])
    others = []  # on the same queue, each with its own beat schedule file
    try:
        for name in names[1:]:
            (tmp_path / name).mkdir()
            others.append(WorkerProcess(first.queue, tmp_path / name, CELERY_WORKER_HOSTNAME=name))
            others[-1].start()
        inspect = celery_app.control.inspect(destination=names, timeout=1.0)
        wait_for(lambda: len(inspect.ping() or {}) == len(names), timeout=60, what="three workers")
        sent = 0
        for _ in range(4):  # all queued at once: each idle worker takes one at the same moment
            for name in ("daily_sales", "order_summary"):
                rebuild_projection.delay(name)
                sent += 1

        def all_handled() -> bool:
            stats, active = inspect.stats() or {}, inspect.active() or {}
            handled = sum(s.get("total", {}).get(REBUILD_TASK, 0) for s in stats.values())
            running = [t for tasks in active.values() for t in tasks if t["name"] == REBUILD_TASK]
            return len(stats) == len(names) and handled == sent and not running

        wait_for(all_handled, timeout=120, what="the workers to handle every rebuild task")
    finally:
        for process in others:
            process.kill()

    assert "is already in progress" in capfd.readouterr().err  # the workers' logs: some were refused
    assert rebuild_settled("daily_sales") and rebuild_settled("order_summary")
    after = table_oids()
    for model in (DailySales, OrderSummary):
        assert after[model._meta.db_table] != before[model._meta.db_table], "no rebuild completed"
    assert_read_model_matches_write_side()  # the live tables equal a fresh fold of the log
    assert copy_schemas() == []
