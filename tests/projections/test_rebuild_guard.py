"""One rebuild per projection at a time, and rebuilds that cannot write to the live read tables.

Real PostgreSQL, real threads with their own connections, and a real process killed with SIGKILL in the
middle of a rebuild.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from config.errors import InvalidTransition
from orders.models import Product
from projections.models import ProjectionCheckpoint
from projections.rebuild import (
    QUEUED_REQUEST_EXPIRY,
    RebuildFailed,
    RebuildInProgress,
    RebuildResult,
    rebuild,
    request_rebuild,
)
from tests.conftest import project_everything, run_in_threads
from tests.projections.workload import (
    assert_read_model_matches_write_side,
    dump_read_tables,
    order_lifecycle,
    staff_and_customers,
)

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def traffic(make_user: Callable[..., Any], make_product: Callable[..., Product]) -> Any:
    """A few dozen orders through realistic paths, projected live; returns the manager."""
    staff, customers = staff_and_customers(make_user, 3)
    skus = [make_product(stock=100_000).sku for _ in range(4)]
    rng = random.Random(11)
    for i in range(30):
        order_lifecycle(rng, customer=customers[i % 3], staff=staff, skus=skus)
    project_everything()
    return staff


def copy_schemas() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%%' ORDER BY 1")
        return [name for (name,) in cursor.fetchall()]


def checkpoint(name: str) -> ProjectionCheckpoint:
    return ProjectionCheckpoint.objects.get(name=name)


def test_concurrent_rebuilds_of_one_projection_run_one_at_a_time(traffic: Any) -> None:
    results = run_in_threads(lambda i: rebuild("daily_sales", batch_size=7), 6, timeout=120)

    ran = [r for r in results if isinstance(r, RebuildResult)]
    refused = [r for r in results if isinstance(r, RebuildInProgress)]
    assert len(ran) + len(refused) == 6, results
    assert ran and refused, results
    assert all(r.code == "rebuild_in_progress" and r.status == 409 for r in refused)
    assert_read_model_matches_write_side()  # the live tables equal a fresh fold of the log
    assert copy_schemas() == []
    assert checkpoint("daily_sales").state == "running"


def test_a_batch_never_falls_back_to_the_live_tables_when_the_copy_is_gone(traffic: Any) -> None:
    """The copy is the only schema on a batch's search path: without it a batch fails, it never resolves
    the read tables' names to the live ones."""
    before = dump_read_tables()

    def drop_the_copy_elsewhere(count: int) -> None:
        if copy_schemas():
            run_in_threads(lambda i: _drop_schema("rebuild_daily_sales"), 1)

    with pytest.raises(RebuildFailed):
        rebuild("daily_sales", batch_size=7, on_progress=drop_the_copy_elsewhere)

    assert dump_read_tables() == before
    assert_read_model_matches_write_side()
    assert checkpoint("daily_sales").state == "running"


def _drop_schema(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {connection.ops.quote_name(schema)} CASCADE")


_PAUSED_REBUILD = textwrap.dedent(
    """
    import signal, sys
    import django
    django.setup()
    from projections.rebuild import rebuild

    def pause(count):
        print("rebuilding", flush=True)
        signal.pause()  # killed here, between two batches

    rebuild(sys.argv[1], batch_size=5, on_progress=pause)
    """
)


def start_rebuild_process(name: str) -> subprocess.Popen[str]:
    """A rebuild in a process of its own, paused after its first batch (copy built in part, state
    ``rebuilding``, its lock held) until it is killed."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
    }
    process = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_REBUILD, name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # bounded: the process either prints or exits
    assert line.strip() == "rebuilding", f"the rebuild process ended early ({process.wait(30)})"
    return process


def test_a_rebuild_killed_mid_way_blocks_nothing(traffic: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    process = start_rebuild_process("daily_sales")
    try:
        assert checkpoint("daily_sales").state == "rebuilding"
        with pytest.raises(RebuildInProgress):  # while it lives, a second one is refused
            rebuild("daily_sales")
        assert copy_schemas() == ["rebuild_daily_sales"]  # and its copy left alone
        api = APIClient()
        api.force_authenticate(traffic)
        refused = api.post("/api/projections/daily_sales/rebuild/")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "rebuild_in_progress"
        # The live runner may mark the projection failed meanwhile: the lock, not the state, decides.
        ProjectionCheckpoint.objects.filter(name="daily_sales").update(state="failed")
        assert api.post("/api/projections/daily_sales/rebuild/").status_code == 409
        ProjectionCheckpoint.objects.filter(name="daily_sales").update(state="rebuilding")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    assert checkpoint("daily_sales").state == "rebuilding"  # stale: its owner is gone
    assert copy_schemas() == ["rebuild_daily_sales"]
    queued: list[str] = []
    monkeypatch.setattr("projections.api.views.rebuild_projection.delay", queued.append)
    api = APIClient()
    api.force_authenticate(traffic)
    assert api.post("/api/projections/daily_sales/rebuild/").status_code == 202
    assert queued == ["daily_sales"]

    call_command("rebuild_projection", "daily_sales", stdout=io.StringIO(), stderr=io.StringIO())

    assert copy_schemas() == []
    assert checkpoint("daily_sales").state == "running"
    assert checkpoint("daily_sales").rebuild_position is None
    assert_read_model_matches_write_side()


def test_a_stopped_projection_is_not_rebuilt(traffic: Any) -> None:
    """An operator stopped it: a rebuild would restart it; it is refused instead, by every entry point."""
    ProjectionCheckpoint.objects.filter(name="daily_sales").update(state="stopped")
    api = APIClient()
    api.force_authenticate(traffic)

    refused = api.post("/api/projections/daily_sales/rebuild/")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_transition"
    assert "stopped" in refused.json()["error"]["message"]
    with pytest.raises(InvalidTransition, match="stopped"):
        rebuild("daily_sales")
    with pytest.raises(CommandError, match="stopped"):
        call_command("rebuild_projection", "daily_sales", stdout=io.StringIO(), stderr=io.StringIO())
    assert checkpoint("daily_sales").state == "stopped"
    assert copy_schemas() == []


def test_a_projection_stopped_during_its_rebuild_stays_stopped(traffic: Any) -> None:
    def stop_elsewhere(count: int) -> None:
        run_in_threads(
            lambda i: ProjectionCheckpoint.objects.filter(name="daily_sales").update(state="stopped"), 1
        )

    rebuild("daily_sales", batch_size=7, on_progress=stop_elsewhere)

    assert checkpoint("daily_sales").state == "stopped"
    assert copy_schemas() == []
    assert_read_model_matches_write_side()


def test_a_queued_request_no_worker_started_blocks_the_next_one_for_a_while_only(traffic: Any) -> None:
    """Its message may be lost (a broker restart, a worker killed as it received it)."""
    request_rebuild("daily_sales")
    with pytest.raises(RebuildInProgress):
        request_rebuild("daily_sales")

    ProjectionCheckpoint.objects.filter(name="daily_sales").update(
        rebuild_requested_at=timezone.now() - QUEUED_REQUEST_EXPIRY - timedelta(seconds=1)
    )
    request_rebuild("daily_sales")

    with pytest.raises(RebuildInProgress):
        request_rebuild("daily_sales")
    rebuild("daily_sales")  # what the queued task does: it serves the request
    assert checkpoint("daily_sales").state == "running"
    request_rebuild("daily_sales")
