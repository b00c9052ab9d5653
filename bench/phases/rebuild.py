"""Rebuild speed: write ``events`` realistic order events fast (batched appends), then rebuild each
projection from the first event, beside the live tables, as ``manage.py``/the admin would."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

from django.db import connection, transaction

from bench.phases import Params
from bench.workload import metadata, order_events
from orders import store
from projections.projectors import PROJECTORS
from projections.rebuild import rebuild

ORDERS_PER_TRANSACTION = 20


def generate(events: int, *, customers: int = 200) -> dict[str, float]:
    """``events`` events as whole orders of ten, ``ORDERS_PER_TRANSACTION`` orders per transaction."""
    started, written, number = time.perf_counter(), 0, 0
    while written < events:
        with transaction.atomic():
            for _ in range(ORDERS_PER_TRANSACTION):
                number += 1
                history = order_events(number, customer_id=1 + number % customers)[: events - written]
                store.append(uuid4(), 0, history, metadata=metadata())
                written += len(history)
                if written >= events:
                    break
    seconds = time.perf_counter() - started
    return {"events": written, "seconds": seconds, "events_per_s": written / seconds}


def wait_until_readable(timeout: float = 60.0) -> None:
    """Projections read only below the oldest running transaction (of the whole cluster): wait until
    every generated event is there, or a rebuild would stop early and measure fewer events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM event_log"
                " WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.1)
    raise TimeoutError("an open transaction keeps the generated events from being read")


def run(params: Params) -> dict[str, Any]:
    generated = generate(params.get("events", 100_000))
    wait_until_readable()
    rebuilt = {}
    for name in PROJECTORS:
        result = rebuild(name)
        rebuilt[name] = {
            "events": result.events,
            "seconds": result.seconds,
            "events_per_s": result.events_per_second,
        }
    total_seconds = sum(r["seconds"] for r in rebuilt.values())
    return {
        "generated": generated,
        "projections": rebuilt,
        "read_side_seconds": total_seconds,
        "read_side_events_per_s": generated["events"] / total_seconds,
    }
