"""A restore refuses loudly rather than bring back wrong or erased data; a chain from another cluster is
refused; ``restore --until`` leaves stock as the restored events say."""

from __future__ import annotations

import io
import os
import signal
import subprocess  # nosec B404  # runs manage.py backup with a fixed argument list
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accounts.roles import SYSTEM, Role
from orders import commands as c
from orders.handlers import dispatch
from orders.models import Product, StoredEvent
from recovery.backup import BackupBusy, NewChainNeeded, take_backup
from recovery.erasure import erase_customer, ledger_path
from recovery.models import BackupRecord
from recovery.readiness import check_backups
from recovery.restore import restore
from recovery.snapshots import current_xmax
from recovery.tasks import scheduled_backup
from tests.addresses import ADDRESS
from tests.conftest import run_in_threads
from tests.recovery.conftest import archived_events, on_database, table_rows

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def run_restore(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("restore", str(path), *args, "--no-rebuild", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_restore_without_the_erasure_ledger_refuses_unless_told_to_go_on(
    populated: Callable[[int], None], scratch_db: str
) -> None:
    populated(1)
    backup = take_backup()
    assert ledger_path().is_file()  # a backup keeps an (empty) ledger beside the archives
    ledger_path().unlink()

    with on_database(scratch_db):
        with pytest.raises(CommandError, match=r"no erasure ledger at .*--without-erasure-ledger"):
            run_restore(backup.path)
        assert table_rows("event_log", "position") == [] and table_rows("accounts_user", "id") == []

        assert "restored 1 archive(s)" in run_restore(backup.path, "--without-erasure-ledger")
        assert len(table_rows("event_log", "position")) == backup.manifest["events"]["count"]


def test_a_ledger_lacking_an_erasure_the_archive_recorded_is_refused(
    make_user: Callable[..., Any], placed_order: Callable[..., Any], customer: Any, scratch_db: str
) -> None:
    placed_order()
    erase_customer(customer.pk, actor=SYSTEM)
    backup = take_backup()
    assert backup.manifest["erasures"] == [customer.pk]
    ledger_path().write_text("")  # an older copy of the ledger

    with on_database(scratch_db):
        with pytest.raises(CommandError, match=f"lacks 1 erasure.*customer ids {customer.pk}"):
            run_restore(backup.path)
        assert table_rows("event_log", "position") == []


def test_an_incremental_refuses_a_chain_whose_snapshot_lies_ahead_of_this_cluster(
    populated: Callable[[int], None], settings: Any
) -> None:
    """The move to another cluster, simulated: the chain's snapshot names ids this cluster has not
    reached. An incremental (and /readyz) refuses with what to do; a full backup starts a new chain."""
    settings.READINESS_REQUIRE_WORKER = False
    populated(1)
    full = take_backup()
    ahead = current_xmax() + 1_000_000
    BackupRecord.objects.filter(pk=full.record.pk).update(snapshot=f"{ahead}:{ahead}:")

    with pytest.raises(NewChainNeeded, match=r"lies ahead of this database cluster.*starts a new chain"):
        take_backup(incremental=True)
    with pytest.raises(CommandError, match="starts a new chain"):
        call_command("backup", "--incremental", stdout=io.StringIO(), stderr=io.StringIO())
    readiness = check_backups(budget=2.0)
    assert readiness["status"] == "fail" and "lies ahead" in readiness["problems"][0]
    assert BackupRecord.objects.filter(kind="incremental").count() == 0

    take_backup()  # a new chain
    new_order = _new_order(populated)
    incremental = take_backup(incremental=True)
    assert new_order in {event.stream_id for event in archived_events(incremental.path)}
    assert check_backups(budget=2.0)["status"] == "ok"


def test_the_scheduled_incremental_starts_a_new_chain_when_the_old_one_lies_ahead(
    populated: Callable[[int], None],
) -> None:
    populated(1)
    full = take_backup()
    ahead = current_xmax() + 1_000_000
    BackupRecord.objects.filter(pk=full.record.pk).update(snapshot=f"{ahead}:{ahead}:")

    scheduled_backup(incremental=True)

    newest = BackupRecord.objects.order_by("-created_at", "-id").first()
    assert newest.kind == "full" and newest.previous is None
    assert newest.event_count == StoredEvent.objects.count()


def _new_order(populated: Callable[[int], None]) -> Any:
    before = set(StoredEvent.objects.values_list("stream_id", flat=True))
    populated(1)
    (stream,) = set(StoredEvent.objects.values_list("stream_id", flat=True)) - before
    return stream


def test_restore_until_gives_back_the_stock_of_placements_and_cancellations_left_out(
    make_user: Callable[..., Any], make_product: Callable[..., Product], scratch_db: str
) -> None:
    customer = make_user(Role.CUSTOMER)
    sku = make_product(stock=100).sku
    orders = []
    for quantity in (5, 7, 11, 13):
        order_id = uuid4()
        dispatch(
            c.CreateOrder(
                order_id=order_id, customer_id=customer.pk, lines={sku: quantity}, shipping_address=ADDRESS
            ),
            actor=customer,
        )
        dispatch(c.PlaceOrder(order_id=order_id), actor=customer)
        orders.append(order_id)
    cut = StoredEvent.objects.filter(stream_id=orders[1], event_type="OrderPlaced").get()
    dispatch(c.CancelOrder(order_id=orders[0], reason="no longer needed"), actor=customer)  # after the cut
    backup = take_backup()
    assert Product.objects.get(sku=sku).stock_on_hand == 100 - 7 - 11 - 13

    with on_database(scratch_db):
        run_restore(backup.path, "--until", f"{cut.transaction_id}.{cut.position}")
        # Kept: the placements of 5 and 7; left out: those of 11 and 13 and the cancellation of 5.
        assert Product.objects.get(sku=sku).stock_on_hand == 100 - 5 - 7


def test_after_an_upgrade_a_backup_without_a_snapshot_is_not_judged_and_the_next_one_starts_a_chain(
    populated: Callable[[int], None], settings: Any
) -> None:
    settings.READINESS_REQUIRE_WORKER = False
    populated(1)
    full = take_backup()
    BackupRecord.objects.filter(pk=full.record.pk).update(snapshot="")  # as an older version recorded it

    assert check_backups(budget=2.0)["status"] == "skipped"
    with pytest.raises(NewChainNeeded, match="records no snapshot"):
        take_backup(incremental=True)
    scheduled_backup(incremental=True)
    newest = BackupRecord.objects.order_by("-created_at", "-id").first()
    assert newest.kind == "full" and newest.snapshot
    assert check_backups(budget=2.0)["status"] == "ok"


def test_a_backup_killed_half_way_leaves_no_record_and_the_chain_goes_on(
    populated: Callable[[int], None], backup_dir: Path, scratch_db: str
) -> None:
    """A ``manage.py backup --incremental`` process is stopped inside its snapshot (its COPY waits for a
    lock this test holds) and killed with SIGKILL: no record, no archive, its advisory lock gone with
    its session; the next incremental continues from the last complete archive, and the chain restores
    the whole log."""
    populated(1)
    full = take_backup()
    populated(1)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "BACKUP_DIR": str(backup_dir),
    }
    command = [sys.executable, "manage.py", "backup", "--incremental", "--no-retention"]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE orders_product IN ACCESS EXCLUSIVE MODE")
        process = subprocess.Popen(  # fixed argument list
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_until_copy_waits_for_a_lock()
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
    assert process.returncode == -signal.SIGKILL

    assert list(BackupRecord.objects.values_list("kind", flat=True)) == ["full"]
    assert not list(backup_dir.glob("*-incremental-*.opbk"))
    assert len(list(backup_dir.glob("*.partial"))) == 1  # what it had written so far
    incremental = take_backup(incremental=True, lock_wait=5)  # the killed one's lock is gone
    assert not list(backup_dir.glob("*.partial"))  # and its partial file with it
    assert incremental.record.previous == full.record
    with on_database(scratch_db):
        restore([full.path, incremental.path], rebuild_projections=False)
        restored = table_rows("event_log", "position")
    assert restored == table_rows("event_log", "position")


def _wait_until_copy_waits_for_a_lock(timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            # Inside a transaction the activity view is read once and cached: clear it on every look.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'COPY%%' AND pid <> pg_backend_pid())"
            )
            if cursor.fetchone()[0]:
                return
        if time.monotonic() > deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid, state, wait_event_type, wait_event, left(query, 200) FROM pg_stat_activity"
                )
                raise AssertionError(f"the backup process never reached its COPY: {cursor.fetchall()}")
        time.sleep(0.05)


def test_two_backups_at_once_never_fork_the_chain(populated: Callable[[int], None]) -> None:
    populated(1)
    take_backup()
    populated(1)

    results = run_in_threads(lambda _: take_backup(incremental=True, lock_wait=0).record, 2)

    taken = [result for result in results if isinstance(result, BackupRecord)]
    busy = [result for result in results if isinstance(result, BackupBusy)]
    assert len(taken) + len(busy) == 2 and taken, results
    incrementals = BackupRecord.objects.filter(kind="incremental")
    assert {record.previous_id for record in incrementals} <= {
        BackupRecord.objects.get(kind="full").pk,
        *(record.pk for record in incrementals),
    }
    assert len({record.previous_id for record in incrementals}) == incrementals.count()  # a line, no fork
