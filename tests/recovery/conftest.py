"""Fixtures for the recovery tests: a backup directory per test, scratch databases, a populated system.

Restores run in this process against a scratch database by pointing the default connection at it for
a while (``on_database``): the restore, its rebuild and the assertions then all use it. Scratch
databases are copies of one migrated template made once per session, so each costs a file copy, not a
migration. The DR drill test instead runs the real thing (subprocess, migrate) end to end.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from tests.conftest import project_everything
from tests.projections.workload import order_lifecycle, staff_and_customers


@pytest.fixture(autouse=True)
def backup_dir(settings: Any, tmp_path: Path) -> Path:
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


@contextmanager
def on_database(name: str) -> Iterator[None]:
    """Point the default connection at database ``name`` for the block."""
    original = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original


def _create_database(name: str, template: str | None = None) -> None:
    with connection.cursor() as cursor:
        suffix = f" TEMPLATE {connection.ops.quote_name(template)}" if template else ""
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}{suffix}")


def _drop_database(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


@pytest.fixture(scope="session")
def migrated_template(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock():
        name = f"{connection.settings_dict['NAME']}_template"
        _drop_database(name)
        _create_database(name)
        with on_database(name):
            call_command("migrate", interactive=False, verbosity=0)
        yield name
        _drop_database(name)


@pytest.fixture
def scratch_db(migrated_template: str) -> Iterator[str]:
    """An empty, migrated database beside the test database."""
    name = f"scratch_{uuid4().hex[:12]}"
    _create_database(name, template=migrated_template)
    yield name
    _drop_database(name)


@pytest.fixture
def populated(make_user: Callable[..., Any], make_product: Callable[..., Any]) -> Callable[[int], None]:
    """``populate(orders)``: realistic traffic from a few customers, projected."""
    staff, customers = staff_and_customers(make_user, 3)
    skus = [make_product(stock=100_000).sku for _ in range(4)]
    rng = random.Random(5)

    def populate(orders: int) -> None:
        for i in range(orders):
            order_lifecycle(rng, customer=customers[i % len(customers)], staff=staff, skus=skus)
        project_everything()

    return populate


def table_rows(table: str, order_by: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY {order_by}")  # noqa: S608
        return cursor.fetchall()


@contextmanager
def writing_transaction_open(database: str = "postgres") -> Iterator[int]:
    """A transaction that holds a transaction id, left open in ``database`` of the same server.

    The transaction horizon is server-wide: a writer in another database holds every snapshot's xmin
    back as much as one in this database. Rolled back and closed whatever the block does.
    """
    params = connection.get_connection_params()
    params["dbname"] = database
    params.pop("cursor_factory", None)
    params.pop("context", None)
    holder = psycopg.connect(**params, autocommit=False, connect_timeout=10)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text")  # assigns the transaction its id
            (transaction_id,) = cursor.fetchone()
        yield int(transaction_id)
    finally:
        holder.rollback()
        holder.close()


@dataclass(frozen=True)
class ArchivedEvent:
    transaction_id: int
    position: int
    stream_id: UUID


def archived_events(path: Path) -> list[ArchivedEvent]:
    """The events an archive holds (decrypted and verified), as (transaction id, position, stream)."""
    from recovery.archive import ArchiveReader
    from recovery.keys import backup_key, backup_key_id

    events = []
    with open(path, "rb") as file:
        reader = ArchiveReader(file, key=backup_key(), key_id=backup_key_id(backup_key()))
        for section in reader.sections():
            for block in section.blocks():
                if section.name == "event_log":
                    for row in block.splitlines():
                        transaction_id, position, stream_id = row.split(b"\t")[:3]
                        events.append(
                            ArchivedEvent(int(transaction_id), int(position), UUID(stream_id.decode()))
                        )
    return events
