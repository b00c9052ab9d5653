"""The DR drill: back up the live system, restore into a scratch database, compare every read table.

1. Freeze the live read model at one point: catch the projections up, lock their checkpoints (live
   runners then skip), bring all of them to the same (transaction id, position) and fingerprint every
   read table row by row (an md5 per row) while the lock is held.
2. Take a full backup (not recorded: it never becomes the base of an incremental). It holds every event
   up to the frozen point, since that point was below the horizon before the backup's snapshot.
3. Create a scratch database on the same server, and run ``manage.py restore --until <point>`` against it
   in a subprocess, exactly as an operator would (migrate, load, rebuild). Its wall time is the RTO.
4. Compare the restored read tables with the fingerprints; drop the scratch database.

The RPO reported is the measured one of the recorded backups (``recovery.status``): the age of the
oldest committed event that no archive holds, the writes a restore of those archives would lose now.
The drill's own backup is not recorded and changes nothing about it.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # runs manage.py restore with a fixed argument list
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from uuid import uuid4

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from psycopg import sql

from projections import runner
from projections.models import ProjectionCheckpoint
from projections.projectors import PROJECTORS
from recovery.backup import take_backup
from recovery.status import recovery_point

Progress = Callable[[str], None]
MAX_REPORTED_DIFFERENCES = 50
RESTORE_TIMEOUT = 3600
_SCRATCH_ALIAS = "dr_drill_scratch"


class DrillError(RuntimeError):
    pass


@dataclass(frozen=True)
class FrozenReadModel:
    cursor: tuple[int, int]
    fingerprints: dict[str, dict[str, str]]


def read_models() -> list[Any]:
    return [model for projector in PROJECTORS.values() for model in projector.tables]


def run_drill(*, progress: Progress = lambda line: None) -> dict[str, Any]:
    started_at = timezone.now()
    report: dict[str, Any] = {"ok": False, "started_at": started_at.isoformat()}
    try:
        frozen = freeze_live_read_model(progress)
        report["compared_at"] = {"transaction_id": frozen.cursor[0], "position": frozen.cursor[1]}
        with tempfile.TemporaryDirectory(prefix="dr-drill-") as directory:
            progress("backing up the live system")
            backup = take_backup(output=Path(directory), record=False)
            events = backup.manifest["events"]
            report.update(_measured_rpo())
            report["backup"] = {
                "events": events["count"],
                "newest_event_at": events["newest_recorded_at"],
                "size_bytes": backup.size_bytes,
                "seconds": round(backup.seconds, 3),
            }
            with scratch_database() as name:
                report["scratch_database"] = name
                progress(f"restoring into scratch database {name}")
                restored, wall = _restore_in_subprocess(name, backup.path, frozen.cursor)
                report["rto_seconds"] = round(wall, 3)
                report["restore"] = {
                    "seconds": round(wall, 3),
                    "phases": restored["phases"],
                    "events": restored["events"],
                }
                with scratch_connection(name) as scratch:
                    report.update(compare(frozen.fingerprints, fingerprint_read_tables(scratch), scratch))
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        return report
    report["ok"] = not report["differences"]
    return report


def _measured_rpo() -> dict[str, Any]:
    point = recovery_point()
    return {
        "rpo_seconds": None if point.rpo_seconds is None else round(point.rpo_seconds, 3),
        "rpo": {
            "target_seconds": settings.BACKUP_RPO_TARGET,
            "uncovered_events": point.uncovered_events,
            "oldest_uncovered_event_at": point.oldest_uncovered_at.isoformat()
            if point.oldest_uncovered_at
            else None,
            "newest_uncovered_event_at": point.newest_uncovered_at.isoformat()
            if point.newest_uncovered_at
            else None,
            "newest_backup_at": point.newest.created_at.isoformat() if point.newest else None,
            "problem": point.problem,
        },
    }


# --- 1. the live side, frozen at one point ------------------------------------------------------


def freeze_live_read_model(progress: Progress) -> FrozenReadModel:
    progress("catching the live projections up")
    runner.catch_up_all()
    for name in PROJECTORS:
        runner.checkpoint_for(name)
    with transaction.atomic():
        # Live runners lock a checkpoint with SKIP LOCKED: while these locks are held they skip, so the
        # read tables hold still. A rebuild's final swap waits for them.
        checkpoints = list(
            ProjectionCheckpoint.objects.select_for_update().filter(name__in=PROJECTORS).order_by("name")
        )
        target = max((c.transaction_id, c.position) for c in checkpoints)
        for checkpoint in checkpoints:
            _bring_to(checkpoint, target)
        fingerprints = fingerprint_read_tables(connection)
    return FrozenReadModel(cursor=target, fingerprints=fingerprints)


def _bring_to(checkpoint: ProjectionCheckpoint, target: tuple[int, int]) -> None:
    """Apply exactly the events between the checkpoint and ``target`` (all below the horizon already)."""
    if checkpoint.state in (ProjectionCheckpoint.State.FAILED, ProjectionCheckpoint.State.STOPPED):
        raise DrillError(
            f"projection {checkpoint.name} is {checkpoint.state}; the live read model is not current"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM event_log WHERE (transaction_id, position) > (%s::text::xid8, %s)"
            " AND (transaction_id, position) <= (%s::text::xid8, %s)",
            [str(checkpoint.transaction_id), checkpoint.position, str(target[0]), target[1]],
        )
        behind = cursor.fetchone()[0]
    if behind:
        outcome, applied = runner.run_batch(PROJECTORS[checkpoint.name](), batch_size=behind)
        if outcome is not runner.Outcome.APPLIED or applied != behind:
            raise DrillError(
                f"projection {checkpoint.name} could not be brought to the common point ({outcome})"
            )


def fingerprint_read_tables(db: BaseDatabaseWrapper) -> dict[str, dict[str, str]]:
    """Every row of every read table as ``{primary key: md5 of the row}``, computed by the server."""
    fingerprints = {}
    with db.cursor() as cursor:
        for model in read_models():
            cursor.execute(
                sql.SQL("SELECT {}::text, md5(ROW({})::text) FROM {}").format(
                    sql.Identifier(model._meta.pk.column),
                    sql.SQL(", ").join(sql.Identifier(f.column) for f in model._meta.concrete_fields),
                    sql.Identifier(model._meta.db_table),
                )
            )
            fingerprints[model._meta.db_table] = dict(cursor.fetchall())
    return fingerprints


# --- 3. the scratch database and the restore ----------------------------------------------------


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty database on the live server, dropped afterwards whatever happens."""
    name = f"dr_drill_{uuid4().hex[:16]}"
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {quoted}")
    try:
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


@contextmanager
def scratch_connection(name: str) -> Iterator[BaseDatabaseWrapper]:
    """A connection to the scratch database: the default connection's settings with another NAME.

    A wrapper of its own rather than an alias in settings.DATABASES: nothing global changes, and it is
    closed (before the database is dropped) when the block ends.
    """
    live = connections[DEFAULT_DB_ALIAS]
    scratch = type(live)({**live.settings_dict, "NAME": name}, alias=_SCRATCH_ALIAS)
    try:
        yield scratch
    finally:
        scratch.close()


def database_url(name: str) -> str:
    """A DATABASE_URL for database ``name`` on the live server (same user, host and options)."""
    params = connection.settings_dict
    query = {
        k: v
        for k, v in (params.get("OPTIONS") or {}).items()
        if isinstance(v, str | int) and not isinstance(v, bool)
    }
    host = str(params.get("HOST") or "")
    if host.startswith("/"):
        query["host"], host = host, ""
    credentials = quote(str(params.get("USER") or ""), safe="")
    if params.get("PASSWORD"):
        credentials += ":" + quote(str(params["PASSWORD"]), safe="")
    port = f":{params['PORT']}" if params.get("PORT") else ""
    url = f"postgres://{credentials}@{host}{port}/{quote(name, safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


def _restore_in_subprocess(name: str, archive: Path, until: tuple[int, int]) -> tuple[dict[str, Any], float]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(name),
        # (under override_settings, settings.SETTINGS_MODULE is None)
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE,
        "BACKUP_ENCRYPTION_KEY": settings.BACKUP_ENCRYPTION_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "FIELD_ENCRYPTION_OLD_KEYS": ",".join(settings.FIELD_ENCRYPTION_OLD_KEYS),
        "BACKUP_DIR": str(settings.BACKUP_DIR),
        "PROJECTION_NUDGE_ON_COMMIT": "false",
    }
    env.pop("TEST_WORKER_DATABASE_NAME", None)
    command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "restore", str(archive), "--json"]
    if until[1]:  # an empty log has no event to stop at (and position 0 is no event's)
        command += ["--until", f"{until[0]}.{until[1]}"]
    started = time.monotonic()
    finished = subprocess.run(  # nosec B603  # fixed argument list, no shell
        command, env=env, capture_output=True, text=True, timeout=RESTORE_TIMEOUT, check=False
    )
    wall = time.monotonic() - started
    if finished.returncode != 0:
        raise DrillError(
            f"the restore failed (exit {finished.returncode}): {finished.stderr.strip()[-2000:]}"
        )
    lines = finished.stdout.strip().splitlines()
    return json.loads(lines[-1]), wall


# --- 4. the comparison ---------------------------------------------------------------------------


def compare(
    live: dict[str, dict[str, str]], restored: dict[str, dict[str, str]], scratch: BaseDatabaseWrapper
) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    differences: list[dict[str, Any]] = []
    for model in read_models():
        table = model._meta.db_table
        ours, theirs = live.get(table, {}), restored.get(table, {})
        missing = sorted(ours.keys() - theirs.keys())
        extra = sorted(theirs.keys() - ours.keys())
        changed = sorted(key for key in ours.keys() & theirs.keys() if ours[key] != theirs[key])
        tables[table] = {
            "live_rows": len(ours),
            "restored_rows": len(theirs),
            "missing": len(missing),
            "extra": len(extra),
            "changed": len(changed),
        }
        for kind, keys in (
            ("missing from the restore", missing),
            ("only in the restore", extra),
            ("differs", changed),
        ):
            for key in keys:
                if len(differences) < MAX_REPORTED_DIFFERENCES:
                    entry: dict[str, Any] = {"table": table, "key": key, "difference": kind}
                    if kind == "differs":
                        entry["columns"] = _differing_columns(model, key, scratch)
                    differences.append(entry)
    return {
        "tables": tables,
        "difference_count": sum(t["missing"] + t["extra"] + t["changed"] for t in tables.values()),
        "differences": differences,
    }


def _differing_columns(model: Any, key: str, scratch: BaseDatabaseWrapper) -> list[str]:
    """Which columns differ (names only: values may be personal data). Compared with the live row as it
    is now, which may have moved on since the freeze."""
    rows = []
    for db in (connection, scratch):
        columns = sql.SQL(", ").join(
            sql.SQL("md5({}::text)").format(sql.Identifier(f.column)) for f in model._meta.concrete_fields
        )
        with db.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT {} FROM {} WHERE {}::text = %s").format(
                    columns, sql.Identifier(model._meta.db_table), sql.Identifier(model._meta.pk.column)
                ),
                [key],
            )
            rows.append(cursor.fetchone())
    if None in rows:
        return []
    return [f.column for f, a, b in zip(model._meta.concrete_fields, rows[0], rows[1], strict=True) if a != b]
