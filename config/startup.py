"""A missing or bad setting at start-up, or a database not migrated yet, said in one line.

Django (and Celery, which reads Django's settings) would end every command in a traceback when, say,
DATABASE_URL is unset in production; the entry points (manage.py, the Celery app) wrap their start in
``configuration_errors_in_one_line`` instead, which names the problem and exits with status 2. Likewise a
command run against a database that ``migrate`` has not (fully) set up meets a missing table; manage.py
says so and what to run, through ``unmigrated_database_in_one_line``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import ProgrammingError

CONFIGURATION_ERROR_STATUS = 2


@contextmanager
def configuration_errors_in_one_line(program: str) -> Iterator[None]:
    try:
        yield
    except ImproperlyConfigured as error:
        print(f"{program}: configuration error: {error}", file=sys.stderr)
        sys.exit(CONFIGURATION_ERROR_STATUS)


# PostgreSQL's SQLSTATEs for a table or a column that does not exist (yet).
MISSING_RELATION_STATES = frozenset({"42P01", "42703"})


@contextmanager
def unmigrated_database_in_one_line(program: str) -> Iterator[None]:
    try:
        yield
    except ProgrammingError as error:
        if getattr(error.__cause__, "sqlstate", None) not in MISSING_RELATION_STATES or not _unmigrated():
            raise
        print(f"{program}: the database is not migrated: run manage.py migrate", file=sys.stderr)
        sys.exit(CONFIGURATION_ERROR_STATUS)


def _unmigrated() -> bool:
    """Whether migrations are left to apply to the default database (the one commands use)."""
    from django.db.migrations.executor import MigrationExecutor  # loads every app's migrations

    connection = connections[DEFAULT_DB_ALIAS]
    connection.close()  # the failed statement may have left a transaction aborted
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
