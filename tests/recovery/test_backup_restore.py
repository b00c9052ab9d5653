"""Backup -> verify -> restore into an empty database -> the same events and the same read tables.

Every test commits for real (transaction=True): backups and rebuilds read only events of transactions
that have ended.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from orders import events as e
from orders import store
from recovery.backup import BackupError, take_backup
from recovery.models import BackupRecord
from recovery.restore import RestoreError, restore
from tests.conftest import run_in_threads
from tests.projections.workload import assert_read_model_matches_write_side, dump_read_tables
from tests.recovery.conftest import on_database, table_rows

pytestmark = pytest.mark.django_db(transaction=True)

REFERENCE = [("accounts_user", "id"), ("auth_group", "id"), ("accounts_user_groups", "id"),
             ("orders_product", "sku"), ("recovery_datakey", "id")]  # fmt: skip


def snapshot() -> dict[str, Any]:
    """Everything a restore must bring back exactly: events (raw), reference data, read tables."""
    return {
        "events": table_rows("event_log", "position"),
        **{table: table_rows(table, key) for table, key in REFERENCE},
        **dump_read_tables(),
    }


def restore_into(database: str, paths: list[Path], **kwargs: Any) -> dict[str, Any]:
    with on_database(database):
        report = restore(paths, **kwargs)
        return {"report": report, "state": snapshot()}


def test_the_backup_command_prints_json_with_the_same_facts(populated: Callable[[int], None]) -> None:
    populated(3)
    out = io.StringIO()

    call_command("backup", "--json", "--no-retention", stdout=out, stderr=io.StringIO())

    report = json.loads(out.getvalue())
    (record,) = BackupRecord.objects.all()
    assert (report["kind"], report["path"], report["sha256"]) == ("full", record.path, record.sha256)
    assert report["size_bytes"] == record.size_bytes
    assert report["events"]["count"] == record.event_count > 0
    assert report["snapshot"] and report["seconds"] >= 0


def test_a_restored_backup_has_the_same_events_reference_data_and_read_tables(
    populated: Callable[[int], None], scratch_db: str
) -> None:
    populated(12)
    live = snapshot()
    out = io.StringIO()
    call_command("backup", stdout=out, stderr=io.StringIO())
    (record,) = BackupRecord.objects.all()
    assert record.kind == "full" and record.event_count == len(live["events"]) > 50
    assert Path(record.path).stat().st_size == record.size_bytes and len(record.sha256) == 64

    verified = io.StringIO()
    call_command("verify_backup", record.path, stdout=verified)
    assert "OK" in verified.getvalue() and f"events {record.event_count:,}" in verified.getvalue()

    restored = restore_into(scratch_db, [Path(record.path)])

    assert restored["state"] == live
    report = restored["report"]
    assert report.events == record.event_count
    assert set(report.phases) >= {
        "load",
        "rebuild order_summary",
        "rebuild daily_sales",
        "rebuild customer_stats",
    }
    with on_database(scratch_db):
        assert_read_model_matches_write_side()  # the restored write side decrypts and folds, too


def test_an_incremental_chain_restores_to_the_state_of_a_full_backup_taken_at_the_end(
    populated: Callable[[int], None], migrated_template: str
) -> None:
    populated(4)
    full = take_backup()
    populated(3)
    first = take_backup(incremental=True)
    populated(3)
    second = take_backup(incremental=True)
    empty = take_backup(incremental=True)  # nothing new: a link all the same
    final_full = take_backup(record=False, output=full.path.parent)

    assert empty.manifest["events"]["count"] == 0
    assert empty.record.previous == second.record and second.record.previous == first.record
    assert (
        full.manifest["events"]["count"]
        + first.manifest["events"]["count"]
        + second.manifest["events"]["count"]
        == final_full.manifest["events"]["count"]
    )
    databases = [f"scratch_{uuid4().hex[:12]}" for _ in range(2)]
    for name in databases:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    try:
        chained = restore_into(databases[0], [full.path, first.path, second.path, empty.path])
        whole = restore_into(databases[1], [final_full.path])
    finally:
        with connection.cursor() as cursor:
            for name in databases:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert chained["state"] == whole["state"] == snapshot()


def test_a_chain_out_of_order_or_with_a_gap_is_refused(
    populated: Callable[[int], None], scratch_db: str
) -> None:
    populated(2)
    full = take_backup()
    populated(1)
    first = take_backup(incremental=True)
    second = take_backup(incremental=True)
    with on_database(scratch_db):
        with pytest.raises(RestoreError, match="does not follow"):
            restore([full.path, second.path])
        with pytest.raises(RestoreError, match="first archive must be a full backup"):
            restore([first.path])
        assert table_rows("event_log", "position") == []


def test_an_event_committed_late_with_a_lower_position_is_in_the_next_incremental(
    populated: Callable[[int], None], scratch_db: str
) -> None:
    """A appends first (lower position) and stays open while a full backup runs: the backup holds B,
    committed, and not A, which it cannot see; the next incremental holds A, at once and only A."""
    populated(1)
    late, early = uuid4(), uuid4()
    appended, may_commit = threading.Event(), threading.Event()

    def transaction_a(_: int) -> int:
        with transaction.atomic():
            (recorded,) = store.append(late, 0, [e.OrderNoteAdded(note_id=1, text="late")])
            appended.set()
            assert may_commit.wait(20)
        return recorded.position

    results: list[Any] = []
    holder = threading.Thread(target=lambda: results.append(run_in_threads(transaction_a, 1)[0]))
    holder.start()
    try:
        assert appended.wait(10)
        (b,) = store.append(early, 0, [e.OrderNoteAdded(note_id=1, text="early")])
        full = take_backup()
    finally:
        may_commit.set()
        holder.join(20)
    assert results[0] < b.position
    incremental = take_backup(incremental=True)

    assert early in _streams(full.path) and late not in _streams(full.path)
    assert _streams(incremental.path) == {late}
    restored = restore_into(scratch_db, [full.path, incremental.path], rebuild_projections=False)
    assert restored["state"]["events"] == table_rows("event_log", "position")


def _streams(path: Path) -> set[Any]:
    from uuid import UUID

    from recovery.archive import ArchiveReader
    from recovery.keys import backup_key, backup_key_id

    streams = set()
    with open(path, "rb") as file:
        reader = ArchiveReader(file, key=backup_key(), key_id=backup_key_id(backup_key()))
        for section in reader.sections():
            for block in section.blocks():
                if section.name == "event_log":
                    streams |= {UUID(row.split(b"\t")[2].decode()) for row in block.splitlines()}
    return streams


def test_restore_refuses_a_database_that_holds_data(populated: Callable[[int], None]) -> None:
    populated(1)
    backup = take_backup()
    before = snapshot()
    with pytest.raises(CommandError, match="refusing to restore into a database that holds data"):
        call_command("restore", str(backup.path), stdout=io.StringIO(), stderr=io.StringIO())
    assert snapshot() == before


def test_restore_until_a_point_stops_the_log_after_its_transaction(
    populated: Callable[[int], None], scratch_db: str
) -> None:
    populated(3)
    rows = table_rows("event_log", "transaction_id, position")
    cut = rows[len(rows) // 2]
    backup = take_backup()
    point = (int(cut[-1]), cut[0])  # (transaction id, position); SELECT * has the position first
    restored = restore_into(scratch_db, [backup.path], until=point, rebuild_projections=False)
    expected = sorted((row for row in rows if int(row[-1]) <= point[0]), key=lambda row: row[0])
    assert restored["state"]["events"] == expected
    last_of_its_transaction = max((int(row[-1]), row[0]) for row in expected)
    assert restored["report"].last == list(last_of_its_transaction)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "wrong key", "missing key"])
def test_a_damaged_archive_or_wrong_key_is_refused_and_nothing_is_restored(
    damage: str, populated: Callable[[int], None], scratch_db: str, settings: Any
) -> None:
    populated(2)
    path = take_backup().path
    data = bytearray(path.read_bytes())
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0x40
        expected = "failed authentication"
    elif damage == "truncated":
        data = data[: len(data) - 100]
        expected = "truncated"
    elif damage == "wrong key":
        from recovery.keys import generate_key

        settings.BACKUP_ENCRYPTION_KEY = generate_key()
        expected = "encrypted with another key"
    else:
        settings.BACKUP_ENCRYPTION_KEY = ""
        expected = "BACKUP_ENCRYPTION_KEY is not set"
    path.write_bytes(bytes(data))

    with pytest.raises(CommandError, match=expected):
        call_command("verify_backup", str(path), stdout=io.StringIO())
    with on_database(scratch_db):
        with pytest.raises(CommandError, match=expected):
            call_command("restore", str(path), stdout=io.StringIO(), stderr=io.StringIO())
        assert table_rows("event_log", "position") == []
        assert table_rows("accounts_user", "id") == []


def test_a_malformed_backup_key_stops_the_backup_before_anything_is_written(
    settings: Any, backup_dir: Path
) -> None:
    settings.BACKUP_ENCRYPTION_KEY = "not-base64!"
    with pytest.raises(CommandError, match="BACKUP_ENCRYPTION_KEY is not valid base64"):
        call_command("backup", stdout=io.StringIO())
    settings.BACKUP_ENCRYPTION_KEY = "c2hvcnQ="
    with pytest.raises(CommandError, match="must decode to 32 bytes"):
        call_command("backup", stdout=io.StringIO())
    assert not backup_dir.exists() or not any(backup_dir.iterdir())
    assert not BackupRecord.objects.exists()


def test_an_incremental_needs_a_previous_backup(db: None) -> None:
    with pytest.raises(BackupError, match="take a full backup first"):
        take_backup(incremental=True)


def test_a_backup_after_the_connection_health_check_was_reset_still_gets_its_snapshot(
    populated: Callable[[int], None],
) -> None:
    """Celery and each request reset Django's health check; its SELECT 1 must not come first in the
    backup's transaction (SET TRANSACTION ISOLATION LEVEL would then be refused)."""
    populated(1)
    connection.ensure_connection()
    connection.health_check_enabled, connection.health_check_done = True, False
    assert take_backup().manifest["events"]["count"] > 0


def test_a_restore_without_the_master_key_of_its_data_keys_is_refused(
    populated: Callable[[int], None], scratch_db: str, settings: Any
) -> None:
    from recovery.keys import generate_key

    populated(1)
    path = take_backup().path
    settings.FIELD_ENCRYPTION_KEY = generate_key()
    with on_database(scratch_db):
        with pytest.raises(RestoreError, match="wrapped by master key"):
            restore([path])
        assert table_rows("event_log", "position") == []


def test_a_server_whose_transaction_ids_lag_the_restored_ones_is_advanced_past_them(scratch_db: str) -> None:
    """On a new server the restored events' transaction ids may lie in its future; readers would never
    see them. The restore burns ids until the server's counter is past the newest restored one."""
    from recovery.restore import _advance_transaction_ids

    with on_database(scratch_db), connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        ahead = cursor.fetchone()[0] + 5_000
        cursor.execute(
            "INSERT INTO event_log (transaction_id, stream_id, version, event_type, schema_version, payload,"
            " metadata) VALUES (%s::text::xid8, %s, 1, 'OrderNoteAdded', 1, '{}', '{}')",
            [str(ahead), uuid4()],
        )
        lines: list[str] = []
        _advance_transaction_ids(lines.append)
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        assert cursor.fetchone()[0] > ahead
        assert lines and "advancing" in lines[0]


def test_the_manifest_names_first_and_last_in_commit_order_when_transaction_ids_gain_a_digit(
    db: None,
) -> None:
    """Ids 8 to 11 sort as 10, 11, 8, 9 as text: the manifest's first and last must compare numbers.
    Made-up ids far below any running transaction."""

    def append_with_transaction_id(transaction_id: int) -> None:
        note = e.OrderNoteAdded(note_id=transaction_id, text="note")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata,"
                " transaction_id) VALUES (%s, 1, %s, %s, %s, '{}', %s::text::xid8)",
                [uuid4(), note.type, note.schema_version, json.dumps(note.to_payload()), str(transaction_id)],
            )

    for transaction_id in (8, 9, 10, 11):
        append_with_transaction_id(transaction_id)
    full = take_backup()

    assert full.manifest["events"]["count"] == 4
    assert full.manifest["events"]["first"][0] == 8
    assert full.manifest["events"]["last"][0] == 11
