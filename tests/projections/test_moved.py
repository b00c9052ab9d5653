"""After a logical move to another cluster the read side refuses to run, says why, and re-bases.

A move is simulated the way it looks from the new cluster: the rows carry transaction ids beyond this
server's counter (a checkpoint raised past it; an event inserted with such an id, as pg_restore would).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from config.errors import InvalidTransition
from projections import rebase, runner, tasks
from projections.models import OrderSummary, ProjectionCheckpoint
from projections.projectors import PROJECTORS
from projections.rebuild import rebuild
from tests.conftest import project_everything
from tests.projections.test_celery_worker import ROOT
from tests.projections.workload import assert_read_model_matches_write_side, other_database_params

pytestmark = pytest.mark.django_db(transaction=True)


def next_transaction_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        return int(cursor.fetchone()[0])


def restore_a_note(order_id: UUID, transaction_id: int) -> None:
    """Append a note to the order as the old cluster wrote it: with that cluster's transaction id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata,"
            " transaction_id) SELECT %s, max(version) + 1, 'OrderNoteAdded', 1, %s, '{}', %s::text::xid8"
            " FROM event_log WHERE stream_id = %s",
            [order_id, '{"note_id": 1, "text": "restored"}', str(transaction_id), order_id],
        )


def lock_is_free() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [rebase.LOCK_KEY])
        if not cursor.fetchone()[0]:
            return False
        cursor.execute("SELECT pg_advisory_unlock(%s)", [rebase.LOCK_KEY])
        return True


def moved_checkpoint(name: str = "order_summary", *, ahead: int = 1_000_000) -> int:
    """Raise a checkpoint's transaction id beyond this server's, as the old cluster left it."""
    moved_to = next_transaction_id() + ahead
    ProjectionCheckpoint.objects.filter(name=name).update(transaction_id=moved_to)
    return moved_to


def test_a_checkpoint_ahead_of_the_server_stops_the_runner_until_re_based(
    placed_order: Callable[..., UUID], client: Client, settings: Any, manager: Any
) -> None:
    settings.READINESS_REQUIRE_WORKER = False
    placed_order()
    project_everything()
    moved_to = moved_checkpoint()
    after_move = placed_order()  # a new event, with an id below the moved checkpoint

    # The runner refuses, every way it is started, and reads nothing.
    assert tasks.run_projections() == dict.fromkeys(PROJECTORS, "refused")
    assert runner.catch_up_all()["daily_sales"] == (runner.Outcome.REFUSED, 0)
    assert not OrderSummary.objects.filter(pk=after_move).exists()
    # The system check (migrate, check --database default) says what happened and what to do.
    (error,) = checks.run_checks(databases=["default"], tags=[checks.Tags.database])
    assert error.id == "projections.E001" and error.level == checks.ERROR
    assert f"order_summary at {moved_to}" in error.msg
    assert "manage.py rebase_projections" in error.msg and "full backup" in error.msg
    # /readyz fails with that reason.
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.json()["checks"]["projections"]
    assert check["refused"] == ["transaction_ids_ahead"]
    assert any("rebase_projections" in problem for problem in check["problems"])
    # So do the admin's projections page and the dashboard.
    client.force_login(manager)
    assert (
        "Projections refuse to run" in client.get("/admin/projections/projectioncheckpoint/").content.decode()
    )
    assert "Projections refuse to run" in client.get("/admin/").content.decode()
    client.logout()

    out = io.StringIO()
    call_command("rebase_projections", stdout=out)

    assert "Now take a full backup" in out.getvalue()
    assert checks.run_checks(databases=["default"], tags=[checks.Tags.database]) == []
    newest = placed_order()
    tasks.run_projections()
    assert OrderSummary.objects.filter(pk__in=[after_move, newest]).count() == 2
    assert_read_model_matches_write_side()
    assert client.get("/readyz").status_code == 200


def test_an_event_log_ahead_of_the_server_is_re_based_by_advancing_its_transaction_ids(
    placed_order: Callable[..., UUID],
) -> None:
    order_id = placed_order()
    project_everything()
    restored = next_transaction_id() + 3000  # an event as pg_restore brought it from the old cluster
    restore_a_note(order_id, restored)
    assert runner.catch_up_all()["order_summary"] == (runner.Outcome.REFUSED, 0)
    (error,) = checks.run_checks(databases=["default"], tags=[checks.Tags.database])
    assert f"newest event at {restored}" in error.msg

    out = io.StringIO()
    call_command("rebase_projections", stdout=out)

    assert next_transaction_id() > restored
    assert "advancing this server's transaction ids" in out.getvalue()
    newest = placed_order()  # sorts after the restored event now
    project_everything()
    assert OrderSummary.objects.get(pk=order_id).notes[0]["text"] == "restored"
    assert OrderSummary.objects.filter(pk=newest).exists()
    assert set(ProjectionCheckpoint.objects.values_list("state", flat=True)) == {"running"}


def test_the_re_base_says_when_there_is_nothing_to_do(placed_order: Callable[..., UUID]) -> None:
    placed_order()
    project_everything()
    before = dict(ProjectionCheckpoint.objects.values_list("name", "events_applied"))
    out = io.StringIO()

    call_command("rebase_projections", stdout=out)

    assert "Nothing to re-base" in out.getvalue()
    assert dict(ProjectionCheckpoint.objects.values_list("name", "events_applied")) == before


def test_a_re_base_runs_once_at_a_time_and_one_killed_half_way_is_finished_by_the_next(
    placed_order: Callable[..., UUID],
) -> None:
    order_id = placed_order()
    project_everything()
    restored = next_transaction_id() + 400_000  # some seconds of committing empty transactions
    restore_a_note(order_id, restored)

    with psycopg.connect(**other_database_params(connection.settings_dict["NAME"]), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [rebase.LOCK_KEY])  # a re-base is running there
        with pytest.raises(CommandError, match="another re-base is running"):
            call_command("rebase_projections", stdout=io.StringIO())

    started = next_transaction_id()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rebase_projections"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        },
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while next_transaction_id() < started + rebase.XID_BATCH:  # its first batch has committed
            assert process.poll() is None, "the re-base ended early"
            assert time.monotonic() < deadline, "the re-base never advanced the transaction ids"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    assert next_transaction_id() <= restored, "the re-base finished before it was killed"
    assert runner.catch_up_all()["order_summary"] == (runner.Outcome.REFUSED, 0)
    # The server runs the batch in hand to its end before it notices the client is gone; then the
    # session ends, and its lock with it.
    deadline = time.monotonic() + 30
    while not lock_is_free():
        assert time.monotonic() < deadline, "the killed re-base's session kept its lock"
        time.sleep(0.05)

    call_command("rebase_projections", stdout=io.StringIO())

    newest = placed_order()
    project_everything()
    assert OrderSummary.objects.get(pk=order_id).notes[0]["text"] == "restored"
    assert OrderSummary.objects.filter(pk=newest).exists()


def test_a_rebuild_is_refused_after_a_move_and_the_live_tables_stay(
    placed_order: Callable[..., UUID], client: Client, manager: Any
) -> None:
    """Before the re-base, a rebuild would read only what lies below the horizon and swap in nearly
    empty tables: it is refused, through the API as well, and the read model keeps what it had."""
    order_id = placed_order()
    project_everything()
    before = list(OrderSummary.objects.values_list("id", "version"))
    restore_a_note(order_id, next_transaction_id() + 1_000_000)  # as pg_restore would leave it

    with pytest.raises(InvalidTransition, match="rebase_projections"):
        rebuild("order_summary")
    client.force_login(manager)
    refused = client.post("/api/projections/order_summary/rebuild/")

    assert refused.status_code == 409
    assert "rebase_projections" in refused.json()["error"]["message"]
    assert list(OrderSummary.objects.values_list("id", "version")) == before
    assert ProjectionCheckpoint.objects.get(name="order_summary").state == ProjectionCheckpoint.State.RUNNING
