"""Who holds the read side's horizon, against a real session held open in another database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from django.core import checks
from django.db import connection
from django.test import Client

from config import embedded_services
from orders import store
from projections import guard, horizon, runner, tasks
from projections.models import OrderSummary
from projections.projectors import PROJECTORS, OrderSummaryProjector
from tests.conftest import project_everything
from tests.projections.test_runner import created
from tests.projections.workload import other_database_params, writing_transaction_elsewhere


@pytest.mark.parametrize(
    ("query", "summary"),
    [
        (
            "UPDATE \"order_summary\" SET \"customer_name\" = 'Ada O''Lovelace' WHERE id = 42",
            'UPDATE "order_summary" SET "customer_name" = ? WHERE id = ?',
        ),
        (
            "INSERT INTO t (a, b) VALUES (E'ada@example.com', -3.5e2)\nRETURNING id",
            "INSERT INTO t (a, b) VALUES (?, ?)",
        ),
        ("\n  SELECT $tag$secret text$tag$, $1 /* by ada */ FROM t1 -- ada", "SELECT ?, $1 FROM t1"),
        ("SELECT 'an unterminated string across\nlines'", "SELECT ?"),
        ("SELECT " + "x, " * 50, "SELECT " + "x, " * 24 + "…"),
        ("", ""),
    ],
)
def test_a_query_is_summarised_without_its_literals(query: str, summary: str) -> None:
    assert horizon.query_summary(query) == summary


@pytest.mark.django_db(transaction=True)
def test_the_session_holding_the_horizon_is_named_once_it_has_held_it_long_enough() -> None:
    store.append(uuid4(), 0, [created("X")])
    runner.catch_up(OrderSummaryProjector)  # nothing held yet: the event is projected
    assert horizon.horizon_holder() is None

    with writing_transaction_elsewhere(application_name="psql") as pid:
        assert horizon.horizon_holder(min_seconds=60) is None  # not yet held that long
        time.sleep(0.3)
        holder = horizon.horizon_holder(min_seconds=0.2)

    assert holder is not None
    assert (holder.pid, holder.database, holder.application_name) == (pid, "postgres", "psql")
    assert holder.state == "idle in transaction"
    assert holder.query == "SELECT pg_current_xact_id()"  # its last statement
    assert holder.held_seconds >= 0.2 and holder.transaction_start is not None
    assert f"pid {pid}" in holder.describe()
    assert horizon.horizon_holder() is None  # ended with the block


@pytest.mark.django_db(transaction=True)
def test_readyz_the_admin_and_metrics_name_the_session_while_it_holds_committed_events_back(
    client: Client, settings: Any, placed_order: Callable[..., UUID], manager: Any
) -> None:
    settings.READINESS_REQUIRE_WORKER = False
    settings.PROJECTION_HORIZON_HELD_THRESHOLD = 0.2
    with writing_transaction_elsewhere(application_name="report job") as pid:
        assert client.get("/readyz").status_code == 200  # not held long enough yet, nothing behind it
        placed_order()
        deadline = time.monotonic() + 10
        while (response := client.get("/readyz")).status_code == 200:
            assert time.monotonic() < deadline, "the holder was never named"
            time.sleep(0.05)
        check = response.json()["checks"]["projections"]
        metrics = client.get("/metrics").content.decode()
        client.force_login(manager)
        projections_page = client.get("/admin/projections/projectioncheckpoint/").content.decode()
        dashboard = client.get("/admin/").content.decode()
        client.logout()

    assert f'pid="{pid}"' in metrics and 'application_name="report job"' in metrics
    assert (
        f"held back by pid {pid} (database postgres, application &#x27;report job&#x27;" in projections_page
    )
    assert f"Held back by pid {pid}" in dashboard
    assert response.status_code == 503
    assert check["horizon_held_by"]["pid"] == pid
    assert set(check["horizon_held_by"]) == {
        "pid",
        "database",
        "application_name",
        "transaction_start",
        "state",
        "query",
        "held_seconds",
    }
    assert any(f"held back by pid {pid}" in problem for problem in check["problems"])
    project_everything()
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_the_application_s_sessions_end_when_left_idle_in_a_transaction() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone()[0] == "1min"  # DB_IDLE_IN_TRANSACTION_TIMEOUT's default, 60 s


@pytest.mark.django_db
def test_the_embedded_server_bounds_idle_transactions_of_the_role_for_every_session() -> None:
    if connection.get_connection_params().get("host") != str(embedded_services.PG_DIR):
        pytest.skip("DATABASE_URL names a server of its own")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolconfig FROM pg_roles WHERE rolname = current_user")
        assert "idle_in_transaction_session_timeout=60000ms" in cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_an_orphaned_prepared_transaction_stops_the_projections_with_a_clear_message(
    settings: Any, placed_order: Callable[..., UUID]
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('max_prepared_transactions')::int")
        if cursor.fetchone()[0] == 0:
            pytest.skip("this server allows no prepared transactions (max_prepared_transactions = 0)")
    settings.PROJECTION_HORIZON_HELD_THRESHOLD = 0.2
    gid = f"orphan-{uuid4().hex[:8]}"
    with psycopg.connect(**other_database_params(), autocommit=True) as other:
        other.execute("BEGIN")
        other.execute("SELECT pg_current_xact_id()")
        other.execute(f"PREPARE TRANSACTION '{gid}'")  # its session ends; the transaction stays
    try:
        order_id = placed_order()
        deadline = time.monotonic() + 10
        while not guard.refusals():
            assert time.monotonic() < deadline, "the prepared transaction was never found"
            time.sleep(0.05)
        assert tasks.run_projections() == dict.fromkeys(PROJECTORS, "refused")
        (error,) = checks.run_checks(databases=["default"], tags=[checks.Tags.database])
        assert error.id == "projections.E002" and f"ROLLBACK PREPARED '{gid}'" in error.msg
        holder = horizon.horizon_holder()
        assert holder is not None and (holder.gid, holder.state, holder.pid) == (gid, "prepared", None)
    finally:
        with psycopg.connect(**other_database_params(), autocommit=True) as other:
            other.execute(f"ROLLBACK PREPARED '{gid}'")
    project_everything()
    assert OrderSummary.objects.filter(pk=order_id).exists()
