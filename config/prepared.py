"""Prepared statements for the few queries every command runs, on Django's own connection.

Django binds parameters on the client and never prepares (that keeps connection poolers working), so
PostgreSQL parses and plans each statement anew and psycopg quotes every array element in Python; on the
write path (load a stream, append to it, take an Idempotency-Key) that cost more than the rest of a
command (bench/ profiles). ``prepared_cursor`` gives a psycopg cursor with server-side binding on the
same connection, inside the same transaction, whose ``execute(..., prepare=True)`` parses a statement
once per connection.

It does what ``connection.cursor()`` does first (health check, connect, thread and broken-transaction
checks) and turns database errors into Django's, so callers catch the same exceptions as elsewhere.
Behind a pooler that cannot keep prepared statements, ``DB_PREPARED_STATEMENTS=false`` runs the same
statements unprepared (docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection


@contextmanager
def prepared_cursor() -> Iterator[psycopg.Cursor[Any]]:
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def one_row(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The row of a statement that always returns exactly one (``SELECT nextval(...)``, an aggregate)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row
