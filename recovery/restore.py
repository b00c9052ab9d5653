"""Restore archives into an empty database, then rebuild every projection.

All archives of a chain (a full backup and the incrementals after it) load in ONE transaction while they
are decrypted and verified: a wrong key, a flipped byte, a cut-off file, a broken chain or a checksum
mismatch anywhere rolls everything back — nothing is restored. Events keep their position, version,
transaction id and time exactly (the event log's trigger refuses UPDATE and DELETE, not INSERT), so the
rebuilt read tables equal the originals. Reference data comes from the newest archive of the chain.

Erasures are re-applied from the erasure ledger beside the backups (recovery.erasure), so restoring a
backup taken before an erasure does not bring the customer's data back. Without the ledger, or with one
that lacks erasures an archive knows of, the restore refuses unless told to go on without it.

``until`` keeps whole transactions: the transaction of the named event is restored entirely, later ones
not at all, so one command's events are never cut in half. Stock on hand comes from the newest archive's
snapshot; the reservations and releases of the events left out are undone on it, so stock still equals
what the restored events say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connection, transaction
from psycopg import sql

from orders.models import Product
from projections import runner
from projections.projectors import PROJECTORS
from projections.rebase import RebaseRefused, advance_transaction_ids
from projections.rebuild import rebuild
from recovery import erasure, keys
from recovery.archive import ArchiveError, ArchiveReader, Section, read_header
from recovery.models import DataKey
from recovery.tables import EVENT_COLUMNS, EVENT_LOG, column_list, permission_links, plain_tables

Progress = Callable[[str], None]
# Two billion transactions is where xid8 arithmetic below stops being a reasonable thing to burn through.


class RestoreError(RuntimeError):
    """The restore was refused or failed; nothing was committed. The message says why."""


@dataclass
class RestoreReport:
    phases: dict[str, float] = field(default_factory=dict)
    events: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    archives: list[dict[str, Any]] = field(default_factory=list)
    erasures_reapplied: int = 0
    rebuilt: dict[str, int] = field(default_factory=dict)
    last: list[int] | None = None

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "archives": self.archives,
            "events": self.events,
            "last": self.last,
            "tables": self.tables,
            "erasures_reapplied": self.erasures_reapplied,
            "rebuilt": self.rebuilt,
            "phases": {name: round(seconds, 3) for name, seconds in self.phases.items()},
            "seconds": round(self.seconds, 3),
        }


def restore(
    paths: Sequence[Path],
    *,
    until: tuple[int, int] | None = None,
    rebuild_projections: bool = True,
    without_erasure_ledger: bool = False,
    progress: Progress = lambda line: None,
) -> RestoreReport:
    """Restore ``paths`` (a full archive, then its incrementals in order); ``until`` stops the event
    log after the transaction of a (transaction id, position) cursor, like a consistency token (the DR
    drill compares there). ``without_erasure_ledger`` goes on without the erasure ledger."""
    report = RestoreReport()
    key = keys.backup_key()
    headers = [_header(path) for path in paths]
    _check_chain_shape(headers)
    if not without_erasure_ledger:
        _require_erasure_ledger()
    with _phase(report, "migrate", progress):
        if not _migrated():
            call_command("migrate", interactive=False, verbosity=0)
    _refuse_unless_empty()
    _check_schema(headers[-1])
    with _phase(report, "load", progress), transaction.atomic():
        _clear_seeded_roles()
        manifests: list[dict[str, Any]] = []
        for index, path in enumerate(paths):
            newest = index == len(paths) - 1
            manifest = _load_archive(
                path, key=key, newest=newest, until=until, report=report, progress=progress
            )
            if manifests:
                _check_link(manifests[-1], manifest, path)
            manifests.append(manifest)
            report.archives.append(
                {
                    "path": str(path),
                    "kind": manifest["kind"],
                    "created_at": manifest["created_at"],
                    "events": manifest["events"]["count"],
                }
            )
        if until is not None:
            _undo_stock_of_events_left_out()
        if not without_erasure_ledger:
            _require_erasures_of(manifests)
        report.erasures_reapplied = erasure.reapply_ledger()
        _check_master_keys()
        _set_sequences(manifests[-1]["sequences"])
    with _phase(report, "transaction ids", progress):
        _advance_transaction_ids(progress)
    if rebuild_projections:
        for name in PROJECTORS:
            with _phase(report, f"rebuild {name}", progress):
                report.rebuilt[name] = rebuild(name).events
        with _phase(report, "catch up", progress):
            _catch_up(progress)
    return report


def _catch_up(progress: Progress, timeout: float = 120.0) -> None:
    """A rebuild reads only below the server's transaction horizon; a transaction open elsewhere on the
    server can hold some restored events back for a moment. Wait until the projections have them all."""
    deadline = time.monotonic() + timeout
    while any(runner.has_pending(name) for name in PROJECTORS):
        if time.monotonic() > deadline:
            progress(
                "warning: a transaction elsewhere on the server holds events back; projections will catch up"
            )
            return
        runner.catch_up_all()
        time.sleep(0.05)


@contextmanager
def _phase(report: RestoreReport, name: str, progress: Progress) -> Iterator[None]:
    started = time.monotonic()
    progress(f"{name} ...")
    yield
    report.phases[name] = time.monotonic() - started
    progress(f"{name}: {report.phases[name]:.2f}s")


def _header(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return read_header(file)[0]
    except OSError as exc:
        raise RestoreError(f"cannot read {path}: {exc.strerror}") from None


def _check_chain_shape(headers: list[dict[str, Any]]) -> None:
    if headers[0].get("kind") != "full":
        raise RestoreError("the first archive must be a full backup; incrementals follow it with --chain")
    for number, header in enumerate(headers[1:], start=2):
        if header.get("kind") != "incremental":
            raise RestoreError(f"archive {number} is not an incremental backup")
        if (header.get("previous") or {}).get("archive_id") != headers[number - 2].get("archive_id"):
            raise RestoreError(
                f"archive {number} does not follow archive {number - 1} (give the chain in order)"
            )


def _check_link(previous: dict[str, Any], manifest: dict[str, Any], path: Path) -> None:
    """The incremental names the previous archive and the snapshot it continues from."""
    link = manifest.get("previous") or {}
    if link.get("archive_id") != previous["archive_id"] or link.get("snapshot") != previous.get("snapshot"):
        raise RestoreError(f"{path} does not continue the archive before it")


def _require_erasure_ledger() -> None:
    path = erasure.ledger_path()
    if not path.is_file():
        raise RestoreError(
            f"no erasure ledger at {path}: an archive older than an erasure would bring the erased "
            "customer's personal data back. Copy erasures.log from where the archives are kept into "
            "BACKUP_DIR and run the restore again; only if no customer was erased after the archive "
            "was taken (or the ledger is lost for good), pass --without-erasure-ledger"
        )


def _require_erasures_of(manifests: list[dict[str, Any]]) -> None:
    """A ledger lacking erasures the archives knew of is an older copy, or another shop's."""
    known = _erased_in_ledger()
    missing = sorted({int(i) for m in manifests for i in m.get("erasures", [])} - known)
    if missing:
        named = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise RestoreError(
            f"the erasure ledger at {erasure.ledger_path()} lacks {len(missing)} erasure(s) the archives "
            f"recorded (customer ids {named}): it is an older copy or another shop's. Fetch the current "
            "one, or pass --without-erasure-ledger; nothing was restored"
        )


def _erased_in_ledger() -> set[int]:
    try:
        return erasure.erased_in_ledger()
    except (OSError, ValueError, KeyError) as exc:
        raise RestoreError(f"cannot read the erasure ledger {erasure.ledger_path()}: {exc}") from None


def _migrated() -> bool:
    return EVENT_LOG in connection.introspection.table_names()


def _refuse_unless_empty() -> None:
    occupied = []
    for table in [EVENT_LOG, *plain_tables()[1:]]:  # not the roles: migrations seed them
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)))
            if cursor.fetchone()[0]:
                occupied.append(table)
    if occupied:
        raise RestoreError(
            f"refusing to restore into a database that holds data ({', '.join(occupied)}): "
            "restore needs an empty, migrated database"
        )


def _check_schema(header: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations")
        applied = set(cursor.fetchall())
    missing = sorted(
        f"{app}.{name}"
        for app, names in header.get("migrations", {}).items()
        for name in names
        if (app, name) not in applied
    )
    if missing:
        raise RestoreError(
            f"this database lacks migrations the backup was taken with ({', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}): deploy that code version or newer, migrate, then restore"
        )


def _clear_seeded_roles() -> None:
    """Migrations create the role groups; the archive's groups (same names, original ids) replace them."""
    with connection.cursor() as cursor:
        for link in permission_links():
            if link.owner_column == "group_id":
                cursor.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(link.name)))
        cursor.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(plain_tables()[0])))


def _load_archive(
    path: Path,
    *,
    key: bytes,
    newest: bool,
    until: tuple[int, int] | None,
    report: RestoreReport,
    progress: Progress,
) -> dict[str, Any]:
    links = {link.name: link for link in permission_links()}
    try:
        with open(path, "rb") as file:
            reader = ArchiveReader(file, key=key, key_id=keys.backup_key_id(key))
            for section in reader.sections():
                if section.name == EVENT_LOG:
                    loaded, last = _copy_events(section, until)
                    report.events += loaded
                    if last and (report.last is None or last > report.last):
                        report.last = last
                    progress(f"{path.name}: {loaded:,} events")
                elif not newest:
                    section.skip()  # verified, not loaded: the newest archive's reference data wins
                elif section.name in links:
                    report.tables[section.name] = _copy_permission_links(
                        section, links[section.name].owner_column
                    )
                elif section.name in plain_tables():
                    report.tables[section.name] = _copy_in(section.name, section)
                else:
                    raise RestoreError(f"{path.name} holds an unknown table {section.name}")
    except ArchiveError as exc:
        raise RestoreError(f"{path}: {exc}; nothing was restored") from exc
    except OSError as exc:
        raise RestoreError(f"cannot read {path}: {exc.strerror}") from None
    return _manifest(reader)


def _copy_in(table: str, section: Section, blocks: Iterable[bytes] | None = None) -> int:
    rows = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(
            sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), column_list(section.columns))
        ) as copy,
    ):
        for block in blocks if blocks is not None else section.blocks():
            copy.write(block)
            rows += block.count(b"\n")
    return rows


def _copy_events(section: Section, until: tuple[int, int] | None) -> tuple[int, list[int] | None]:
    """Load the events; with ``until``, those of transactions up to the cursor's, whole. Events left out
    go to a temporary table, whose stock effects are undone afterwards."""
    if section.columns != EVENT_COLUMNS:
        raise RestoreError("the archive's event log has other columns than this version expects")
    last: tuple[int, int] | None = None
    left_out: list[bytes] = []

    def bounded() -> Iterator[bytes]:
        nonlocal last
        for block in section.blocks():
            rows = block.split(b"\n")[:-1]
            # The transaction id alone decides: the whole transaction of the named event, or nothing.
            kept = rows if until is None else [row for row in rows if _cursor(row)[0] <= until[0]]
            if until is not None and len(kept) < len(rows):
                left_out.extend(row for row in rows if _cursor(row)[0] > until[0])
            if kept:
                last = max(last or (0, 0), max(_cursor(row) for row in kept))
                yield b"\n".join(kept) + b"\n"

    loaded = _copy_in(EVENT_LOG, section, bounded())
    if left_out:
        _keep_left_out(left_out)
    return loaded, list(last) if last else None


_LEFT_OUT = "restore_left_out"


def _keep_left_out(rows: list[bytes]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {} (LIKE event_log INCLUDING DEFAULTS) ON COMMIT DROP"
            ).format(sql.Identifier(_LEFT_OUT))
        )
        with cursor.copy(
            sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(_LEFT_OUT), column_list(EVENT_COLUMNS))
        ) as copy:
            copy.write(b"\n".join(rows) + b"\n")


def _undo_stock_of_events_left_out() -> None:
    """Stock on hand is as of the newest snapshot; give back what the events left out reserved, take
    back what they released (OrderPlaced ``lines``; OrderCancelled/OrderExpired ``released_stock``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"pg_temp.{_LEFT_OUT}"])
        if not cursor.fetchone()[0]:
            return
        cursor.execute(
            sql.SQL(
                "UPDATE {} p SET stock_on_hand = p.stock_on_hand + d.units FROM ("
                " SELECT item.key AS sku,"
                "  sum(CASE WHEN e.event_type = 'OrderPlaced' THEN item.value::int ELSE -item.value::int END)"
                "  AS units"
                " FROM {} e, jsonb_each_text(CASE WHEN e.event_type = 'OrderPlaced'"
                "  THEN e.payload -> 'lines' ELSE e.payload -> 'released_stock' END) AS item"
                "  WHERE e.event_type IN ('OrderPlaced', 'OrderCancelled', 'OrderExpired')"
                "  GROUP BY item.key) d"
                " WHERE p.sku = d.sku"
            ).format(sql.Identifier(Product._meta.db_table), sql.Identifier(_LEFT_OUT))
        )


def _cursor(row: bytes) -> tuple[int, int]:
    transaction_id, position, _ = row.split(b"\t", 2)
    return int(transaction_id), int(position)


def _copy_permission_links(section: Section, owner_column: str) -> int:
    """Links by natural key: the target's permission ids differ; unknown permissions are left out."""
    table = section.name
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE restore_links (owner bigint, app_label text, model text, codename text)"
            " ON COMMIT DROP"
        )
        with cursor.copy("COPY restore_links FROM STDIN") as copy:
            for block in section.blocks():
                copy.write(block)
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} ({}, permission_id) SELECT l.owner, p.id FROM restore_links l"
                " JOIN django_content_type ct ON ct.app_label = l.app_label AND ct.model = l.model"
                " JOIN auth_permission p ON p.content_type_id = ct.id AND p.codename = l.codename"
            ).format(sql.Identifier(table), sql.Identifier(owner_column))
        )
        count = cursor.rowcount
        cursor.execute("DROP TABLE restore_links")
    return count


def _check_master_keys() -> None:
    configured = set(keys.master_keys())
    unknown = set(
        DataKey.objects.filter(wrapped_key__isnull=False)
        .exclude(master_key_id__in=configured)
        .values_list("master_key_id", flat=True)
    )
    if unknown:
        raise RestoreError(
            f"the backup's data keys are wrapped by master key(s) {', '.join(sorted(unknown))}, which this "
            "process does not have: set FIELD_ENCRYPTION_KEY (or FIELD_ENCRYPTION_OLD_KEYS) to that key"
        )


def _set_sequences(archived: dict[str, int]) -> None:
    """Identity columns continue after the restored ids; order numbers and positions are never reused."""
    with connection.cursor() as cursor:
        for table in plain_tables():
            for column in connection.introspection.get_sequences(cursor, table):
                cursor.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({}, {}), GREATEST((SELECT max({}) FROM {}), 1))"
                    ).format(
                        sql.Literal(connection.ops.quote_name(table)),
                        sql.Literal(column["column"]),
                        sql.Identifier(column["column"]),
                        sql.Identifier(table),
                    )
                )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('event_log', 'position'),"
            " GREATEST((SELECT max(position) FROM event_log), %s, 1))",
            [archived.get("event_log_position", 1)],
        )
        cursor.execute(
            "SELECT setval('order_number_seq', GREATEST(%s, 1))", [archived.get("order_number_seq", 1)]
        )


def _advance_transaction_ids(progress: Progress) -> None:
    """Make this server's transaction ids run past the restored ones (``projections.rebase``, which a
    re-base after a logical move uses too). Readers take events below ``pg_snapshot_xmin`` in
    (transaction id, position) order: on a new server whose counter is behind the restored ids, restored
    events would be invisible to them, and new events would sort *before* restored ones."""
    try:
        advance_transaction_ids(progress)
    except RebaseRefused as exc:
        raise RestoreError(str(exc)) from exc


def read_manifest(path: Path) -> dict[str, Any]:
    """Decrypt and verify one archive without loading it; return its manifest (``verify_backup``)."""
    key = keys.backup_key()
    with open(path, "rb") as file:
        reader = ArchiveReader(file, key=key, key_id=keys.backup_key_id(key))
        for section in reader.sections():
            section.skip()
    return _manifest(reader)


def _manifest(reader: ArchiveReader) -> dict[str, Any]:
    if reader.manifest is None:  # sections() ends only after reading and verifying the manifest
        raise RestoreError("the archive ended without its manifest")
    return reader.manifest
