"""Take a backup: one read-only REPEATABLE READ snapshot, streamed table by table into an archive.

Every table is read in the same snapshot, so users, products (stock on hand), data keys and events agree
with each other: the stock an archive holds is exactly what its events reserved and released. Rows stream
from the server (``COPY ... TO STDOUT``) through compression and encryption to the file, never held in
memory as a whole.

Which events: a full backup holds every event its snapshot sees. Positions come from a sequence, so a
transaction can commit an event with a *lower* position after a later-numbered one is visible, and a
long transaction can stay open across several backups; neither position nor a horizon can say what the
previous archive held. Its snapshot can: an incremental holds exactly the events whose transactions
the previous archive's snapshot did not see (``recovery.snapshots``). A chain therefore restores every
event committed before its newest snapshot, once, whatever was open on the server meanwhile. The
manifest records the snapshot (``pg_current_snapshot()``) and the chain's link to the previous one.

Incrementals carry only new events, but the reference data (small) in full: a restore takes users,
products and keys from the newest archive of its chain.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from uuid import uuid4

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from recovery import erasure, keys
from recovery.archive import MANIFEST, ArchiveWriter, SectionWriter
from recovery.models import BackupRecord
from recovery.snapshots import Snapshot, SnapshotError, chain_ahead_of_cluster, not_seen_by
from recovery.status import last_backup
from recovery.tables import (
    EVENT_COLUMNS,
    EVENT_LOG,
    column_list,
    columns_of,
    permission_link_select,
    permission_links,
    plain_tables,
    primary_key_of,
    table_select,
)

logger = logging.getLogger(__name__)

_LOCK_ID = 0x6F70_6261_636B  # pg advisory lock: one recorded backup at a time, so chains never fork
SUFFIX = ".opbk"


class BackupError(RuntimeError):
    """A backup could not be taken; the message says why."""


class BackupBusy(BackupError):
    """Another recorded backup holds the lock."""


class NewChainNeeded(BackupError):
    """The newest archive cannot be the base of an incremental (its snapshot lies ahead of this cluster's
    transaction ids, or it records none): only a full backup, which starts a new chain, may run."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    size_bytes: int
    sha256: str
    seconds: float
    record: BackupRecord | None


def take_backup(
    *,
    incremental: bool = False,
    output: Path | None = None,
    record: bool = True,
    lock_wait: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> BackupResult:
    """Write a full or incremental archive; record the run (``BackupRecord``) unless ``record`` is off.

    Unrecorded backups (the DR drill's) never become the base of an incremental.
    """
    key = keys.backup_key()  # a missing or malformed key stops here, before anything is written
    _keep_erasure_ledger_beside_the_archives()
    with _one_backup_at_a_time(lock_wait if record else None):
        if record:
            _remove_partials_of_killed_backups()
        previous = _chain_base() if incremental else None
        started = time.monotonic()
        archive_id = uuid4()
        kind = BackupRecord.Kind.INCREMENTAL if incremental else BackupRecord.Kind.FULL
        path = _output_path(output, kind=kind, archive_id=archive_id.hex)
        partial = path.with_name(path.name + ".partial")
        try:
            manifest, size, sha256 = _write(
                partial, key=key, kind=kind, archive_id=str(archive_id), previous=previous, progress=progress
            )
            os.replace(partial, path)
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            if record:
                _record_failure(kind, path, exc, time.monotonic() - started)
            raise
        seconds = time.monotonic() - started
        saved = (
            _record(manifest, path=path, size=size, sha256=sha256, seconds=seconds, previous=previous)
            if record
            else None
        )
        return BackupResult(
            path=path, manifest=manifest, size_bytes=size, sha256=sha256, seconds=seconds, record=saved
        )


def _remove_partials_of_killed_backups() -> None:
    """A backup killed mid-way leaves its ``.partial`` file. Recorded backups run one at a time under the
    lock held here, and the DR drill's unrecorded one writes to a directory of its own: any partial in
    BACKUP_DIR is a dead backup's."""
    for partial in Path(settings.BACKUP_DIR).glob(f"*{SUFFIX}.partial"):
        partial.unlink(missing_ok=True)
        logger.warning("removed %s, left by a backup that was killed", partial.name)


def _keep_erasure_ledger_beside_the_archives() -> None:
    """An empty ledger means "no erasures"; a missing one means "not copied": a restore refuses then."""
    path = erasure.ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))


def _output_path(output: Path | None, *, kind: str, archive_id: str) -> Path:
    name = f"backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{kind}-{archive_id[:8]}{SUFFIX}"
    if output is None:
        path = Path(settings.BACKUP_DIR) / name
    elif output.is_dir():
        path = output / name
    else:
        path = output
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        raise BackupError(f"{path} exists already; a backup never overwrites a file")
    return path


class _HashingFile:
    """The archive file, counting and hashing what is written (the SHA-256 an operator can check)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file, self.sha256, self.size = file, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.file.write(data)


def _write(
    path: Path,
    *,
    key: bytes,
    kind: str,
    archive_id: str,
    previous: BackupRecord | None,
    progress: Callable[[str], None] | None,
) -> tuple[dict[str, Any], int, str]:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file, _snapshot() as (snapshot, created_at):
        sink = _HashingFile(file)
        header = {
            "archive_id": archive_id,
            "kind": kind,
            "created_at": created_at.isoformat(),
            "app_version": app_version(),
            "migrations": _applied_migrations(),
            "previous": _link(previous),
        }
        writer = ArchiveWriter(sink, key=key, key_id=keys.backup_key_id(key), header=header)
        tables = {}
        for table in plain_tables():
            columns = columns_of(table)
            select = table_select(table, columns, primary_key_of(table) or columns[:1])
            tables[table] = _copy_out(writer, table, columns, select)
        for link in permission_links():
            columns = [link.owner_column, "app_label", "model", "codename"]
            tables[link.name] = _copy_out(
                writer, link.name, columns, permission_link_select(link), meta={"natural_key": True}
            )
        # Full: every event the snapshot sees. Incremental: those the previous snapshot did not see.
        events = _event_range(not_seen_by(Snapshot.parse(previous.snapshot)) if previous else sql.SQL("TRUE"))
        tables[EVENT_LOG] = _copy_out(writer, EVENT_LOG, EVENT_COLUMNS, events["select"])
        if progress:
            progress(f"{EVENT_LOG}: {tables[EVENT_LOG]['rows']:,} events")
        manifest = {
            **header,
            "snapshot": snapshot.text,
            "snapshot_xmin": snapshot.xmin,
            "snapshot_xmax": snapshot.xmax,
            "events": {
                "count": tables[EVENT_LOG]["rows"],
                "first": events["first"],
                "last": events["last"] or (list(previous.last_cursor) if previous else [0, 0]),
                "newest_recorded_at": events["newest"],
            },
            # Erasures asked for by then (the ledger is written before an erasure commits): a restore
            # refuses a ledger that lacks any of them, it would be an older or another shop's copy.
            "erasures": sorted(erasure.erased_in_ledger()),
            "sequences": _sequences(),
            "tables": tables,
            "sha256": writer.plaintext_sha256.hexdigest(),
        }
        writer.frame(MANIFEST, json.dumps(manifest, sort_keys=True).encode())
        writer.close()
        file.flush()
        os.fsync(file.fileno())
    return manifest, sink.size, sink.sha256.hexdigest()


def _chain_base() -> BackupRecord:
    """The archive an incremental continues from, refused when its snapshot cannot be one."""
    previous = last_backup()
    if previous is None:
        raise BackupError("no previous backup to chain an incremental from: take a full backup first")
    try:
        snapshot = Snapshot.parse(previous.snapshot)
    except SnapshotError:
        raise NewChainNeeded(
            "the previous backup records no snapshot (an older version took it): "
            "a full backup starts a new chain"
        ) from None
    problem = chain_ahead_of_cluster(snapshot)
    if problem:
        raise NewChainNeeded(f"refusing an incremental backup: {problem}")
    return previous


@contextmanager
def _snapshot() -> Iterator[tuple[Snapshot, datetime]]:
    """One read-only REPEATABLE READ transaction: every query below sees the same snapshot."""
    if connection.in_atomic_block:
        raise BackupError("a backup needs its own transaction; do not call it inside transaction.atomic()")
    # SET TRANSACTION must be the transaction's first statement. Opening a cursor first, outside it,
    # runs Django's connection health check (a SELECT 1, with CONN_HEALTH_CHECKS) before, not inside.
    connection.cursor().close()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SET LOCAL TimeZone = 'UTC'")  # COPY writes timestamps in the session's zone
            # The transaction's snapshot is taken by its first query, this one: every later query of the
            # backup sees exactly what this text describes.
            cursor.execute("SELECT now(), pg_current_snapshot()::text")
            created_at, snapshot = cursor.fetchone()
        yield Snapshot.parse(snapshot), created_at


def _event_range(where: sql.Composable) -> dict[str, Any]:
    """The events the snapshot sees that match ``where``, and their first, last and newest."""

    def one(query: str) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL(query).format(where=where))
            return cursor.fetchone()

    # ORDER BY names the table's columns: a bare ``transaction_id`` would mean the output column, the id
    # as text, which sorts 10 before 9 and would put the chain's next backup at the wrong place.
    first = one(
        "SELECT transaction_id::text, position FROM event_log WHERE {where}"
        " ORDER BY event_log.transaction_id, event_log.position LIMIT 1"
    )
    last = one(
        "SELECT transaction_id::text, position FROM event_log WHERE {where}"
        " ORDER BY event_log.transaction_id DESC, event_log.position DESC LIMIT 1"
    )
    (newest,) = one("SELECT max(recorded_at) FROM event_log WHERE {where}")
    select = sql.SQL("SELECT {} FROM event_log WHERE {} ORDER BY transaction_id, position").format(
        column_list(EVENT_COLUMNS), where
    )
    return {
        "select": select,
        "first": [int(first[0]), first[1]] if first else None,
        "last": [int(last[0]), last[1]] if last else None,
        "newest": newest.isoformat() if newest else None,
    }


def _copy_out(
    writer: ArchiveWriter,
    name: str,
    columns: list[str],
    select: sql.Composable,
    *,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Stream ``select`` from the server in COPY text format (exact for every type) into a section."""
    section = SectionWriter(writer, name, columns, meta)
    statement = sql.SQL("COPY ({}) TO STDOUT").format(select)
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            section.write_rows(bytes(data))
    return section.close()


def _sequences() -> dict[str, int]:
    """Sequence values the restore must not fall behind (order numbers are never reused)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(pg_sequence_last_value('order_number_seq'::regclass), 0),"
            " COALESCE(pg_sequence_last_value(pg_get_serial_sequence('event_log', 'position')::regclass), 0)"
        )
        order_number, position = cursor.fetchone()
    return {"order_number_seq": order_number, "event_log_position": position}


def _applied_migrations() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        applied: dict[str, list[str]] = {}
        for app, name in cursor.fetchall():
            applied.setdefault(app, []).append(name)
    return applied


def _link(previous: BackupRecord | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    return {
        "archive_id": str(previous.archive_id),
        "snapshot": previous.snapshot,
        "last": [previous.last_transaction_id, previous.last_position],
    }


def app_version() -> str:
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


@contextmanager
def _one_backup_at_a_time(wait: float | None) -> Iterator[None]:
    """A session advisory lock around recorded backups: two at once would fork the incremental chain."""
    if wait is None:
        yield
        return
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_ID])
            if cursor.fetchone()[0]:
                break
            if time.monotonic() >= deadline:
                raise BackupBusy("another backup is running")
            time.sleep(0.2)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_ID])


def _record(
    manifest: dict[str, Any],
    *,
    path: Path,
    size: int,
    sha256: str,
    seconds: float,
    previous: BackupRecord | None,
) -> BackupRecord:
    events = manifest["events"]
    first, last = events["first"] or [None, None], events["last"]
    return BackupRecord.objects.create(
        archive_id=manifest["archive_id"],
        path=str(path),
        kind=manifest["kind"],
        snapshot=manifest["snapshot"],
        created_at=datetime.fromisoformat(manifest["created_at"]),
        duration_seconds=seconds,
        size_bytes=size,
        sha256=sha256,
        content_sha256=manifest["sha256"],
        first_transaction_id=first[0],
        first_position=first[1],
        last_transaction_id=last[0],
        last_position=last[1],
        event_count=events["count"],
        newest_event_at=datetime.fromisoformat(events["newest_recorded_at"])
        if events["newest_recorded_at"]
        else None,
        table_counts={name: info["rows"] for name, info in manifest["tables"].items()},
        previous=previous,
    )


def _record_failure(kind: str, path: Path, exc: BaseException, seconds: float) -> None:
    logger.error("backup failed: %s", type(exc).__name__)
    try:
        BackupRecord.objects.create(
            kind=kind,
            path=str(path),
            status=BackupRecord.Status.FAILED,
            created_at=timezone.now(),
            duration_seconds=seconds,
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
    except Exception:  # the database may be what failed; the log line above says enough
        logger.exception("could not record the failed backup")
