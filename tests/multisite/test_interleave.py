"""Interleaving the sequences (``multisite_setup``, and ``adopt_site`` on a survivor under load) while
commands draw from them: no value is handed out twice."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import override_settings

from multisite import replication

pytestmark = pytest.mark.django_db(transaction=True)

DRAWERS = 4
DRAWS = 300


def _draw(values: list[int], stop: threading.Event) -> None:
    try:
        with connection.cursor() as cursor:  # this thread's own connection, as a web worker's
            for _ in range(DRAWS):
                cursor.execute("SELECT nextval(%s)", [replication.ORDER_NUMBER_SEQUENCE])
                values.append(cursor.fetchone()[0])
                if stop.is_set():
                    return
    finally:
        connections.close_all()


def test_interleaving_while_values_are_drawn_hands_out_no_value_twice() -> None:
    drawn: list[list[int]] = [[] for _ in range(DRAWERS)]
    stop = threading.Event()
    threads = [threading.Thread(target=_draw, args=(values, stop)) for values in drawn]
    try:
        with override_settings(SITES=["a", "b"], SITE_NAME="a", SITE_ID=1):
            for thread in threads:
                thread.start()
            for _ in range(10):
                replication.interleave_sequences()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
        with connection.cursor() as cursor:  # the other tests' single-site sequences
            sequences = [replication.ORDER_NUMBER_SEQUENCE]
            for table, column in replication.INTERLEAVED:
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
                sequences.append(cursor.fetchone()[0])
            for sequence in sequences:
                cursor.execute(f"ALTER SEQUENCE {sequence} INCREMENT BY 1")  # catalog names
    values = [value for values in drawn for value in values]
    assert len(values) == DRAWERS * DRAWS
    assert len(set(values)) == len(values), "a sequence value was handed out twice"
