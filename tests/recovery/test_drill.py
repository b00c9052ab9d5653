"""``dr_drill`` end to end: a real scratch database, ``manage.py restore`` in a subprocess, a comparison."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from orders.models import StoredEvent
from projections.models import OrderSummary
from recovery.models import BackupRecord

pytestmark = pytest.mark.django_db(transaction=True)


def drill() -> tuple[dict, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("dr_drill", "--json", stdout=out)
        failure = None
    except CommandError as exc:
        failure = exc
    return json.loads(out.getvalue()), failure


def scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'dr_drill_%%'")
        return [name for (name,) in cursor.fetchall()]


def test_the_drill_passes_on_an_empty_event_log() -> None:
    assert not StoredEvent.objects.exists()

    report, failure = drill()

    assert failure is None, report
    assert report["ok"] is True and report["backup"]["events"] == 0


def test_the_drill_passes_on_a_healthy_system_and_fails_when_a_read_table_was_corrupted(
    populated: Callable[[int], None],
) -> None:
    populated(15)
    before = scratch_databases()

    report, failure = drill()

    assert failure is None, report
    assert report["ok"] is True and report["difference_count"] == 0 and report["differences"] == []
    # No backup recorded (the drill's own never is): every committed event is at risk, the oldest counts.
    assert 0 < report["rpo_seconds"] < 60
    assert report["rpo"]["uncovered_events"] == StoredEvent.objects.count()
    assert report["rto_seconds"] > 0
    assert {"migrate", "load", "rebuild order_summary", "rebuild daily_sales"} <= set(
        report["restore"]["phases"]
    )
    assert report["backup"]["events"] > 100
    tables = report["tables"]
    assert set(tables) == {
        "projections_ordersummary",
        "projections_dailysales",
        "projections_customerstats",
        "projections_customerorder",
    }
    assert (
        tables["projections_ordersummary"]["live_rows"]
        == tables["projections_ordersummary"]["restored_rows"]
        == 15
    )
    assert scratch_databases() == before  # dropped again
    assert not BackupRecord.objects.exists()  # a drill's backup never becomes the base of an incremental

    # Corrupt one live row on purpose, behind the projections' back.
    victim = OrderSummary.objects.order_by("id").first()
    OrderSummary.objects.filter(pk=victim.pk).update(total=victim.total + 1)

    report, failure = drill()

    assert failure is not None and failure.returncode == 1
    assert report["ok"] is False and report["difference_count"] == 1
    assert report["differences"] == [
        {
            "table": "projections_ordersummary",
            "key": str(victim.pk),
            "difference": "differs",
            "columns": ["total"],
        }
    ]
    assert scratch_databases() == before
