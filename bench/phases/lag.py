"""Projection lag while the bus writes at a fixed rate: from a command's COMMIT until the projections'
checkpoints have passed its last event (their read tables commit together with the checkpoint, so that
is the moment the change is visible). The Celery worker of the running node does the projecting.

The writers are paced open-loop: command k starts at ``k / rate`` seconds, whatever the ones before it
did, so a slow read side cannot slow the writing down and hide its own lag. Each writer process has a
poller that reads the checkpoints every 5 ms, which is the resolution of the figures.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import threading
import time
from typing import Any

from django.db import connections

from bench.phases import Params
from bench.stats import summary_ms
from bench.workload import OrderJourney
from orders.handlers import DispatchResult
from projections.models import ProjectionCheckpoint

POLL_SECONDS = 0.005
SUMMARY = "order_summary"


class LagMeter:
    """Commits in, lags out: ``committed`` is called right after each COMMIT; ``poll`` compares the
    pending ones with the checkpoints."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[tuple[tuple[int, int], float, bool]] = []  # (xid, position), commit time, seen
        self.summary_lags: list[float] = []
        self.all_lags: list[float] = []
        self.commits = 0

    def committed(self, result: DispatchResult) -> None:
        last = result.events[-1]
        with self.lock:
            self.commits += 1
            self.pending.append(((last.transaction_id, last.position), time.perf_counter(), False))

    def poll(self) -> None:
        checkpoints = {
            name: (xid, position)
            for name, xid, position in ProjectionCheckpoint.objects.values_list(
                "name", "transaction_id", "position"
            )
        }
        now = time.perf_counter()
        lowest = min(checkpoints.values(), default=(0, 0))
        summary = checkpoints.get(SUMMARY, (0, 0))
        with self.lock:
            still = []
            for event, at, seen in self.pending:
                if not seen and summary >= event:
                    self.summary_lags.append(now - at)
                    seen = True
                if lowest >= event:
                    self.all_lags.append(now - at)
                else:
                    still.append((event, at, seen))
            self.pending = still


def run(params: Params) -> dict[str, Any]:
    """``rate`` commands/s from ``threads`` writers in ``processes`` processes (see bench.load on why)."""
    rate, seconds = params.get("rate", 300.0), params.get("seconds", 20.0)
    threads, processes = params.get("threads", 16), params.get("processes", 2)
    connections.close_all()  # the writer processes are forked: they must not share a connection
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    start = time.monotonic() + 2.0  # one schedule for all processes (CLOCK_MONOTONIC is system-wide)
    children = [
        context.Process(
            target=lambda p=p: answers.put(
                _write(params, rate / processes, seconds, threads // processes, start, offset=p * 100)
            )
        )
        for p in range(processes)
    ]
    for child in children:
        child.start()
    parts = [answers.get(timeout=seconds + 300) for _ in children]
    for child in children:
        child.join()
    commands = sum(p["commands"] for p in parts)
    errors = [e for p in parts for e in p["errors"]]
    return {
        "target_rate": rate,
        "seconds": seconds,
        "threads": threads,
        "processes": processes,
        "commands": commands,
        "achieved_rate": commands / max(p["written_for"] for p in parts),
        "late_starts": sum(p["late_starts"] for p in parts),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "unresolved": sum(p["unresolved"] for p in parts),
        "order_summary_lag_ms": summary_ms([lag for p in parts for lag in p["summary_lags"]]),
        "all_projections_lag_ms": summary_ms([lag for p in parts for lag in p["all_lags"]]),
    }


def _write(
    params: Params, rate: float, seconds: float, threads: int, start: float, *, offset: int
) -> dict[str, Any]:
    """One writer process: its share of the schedule, and a poller for the lags of its own commands."""
    from django.contrib.auth import get_user_model

    fixtures, meter = params["fixtures"], LagMeter()
    ids = [*fixtures["customer_ids"], fixtures["manager_id"]]
    users = {user.pk: user for user in get_user_model().objects.filter(pk__in=ids)}
    slots, late, errors = itertools.count(), [], []
    end = start + seconds

    def write(i: int) -> None:
        journey = OrderJourney(
            customer=users[fixtures["customer_ids"][i % len(fixtures["customer_ids"])]],
            staff=users[fixtures["manager_id"]],
            skus=fixtures["skus"],
            rng=random.Random(500 + i),  # noqa: S311  # nosec B311  # workload, not secrets
        )
        try:
            while (due := start + next(slots) / rate) < end:
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    late.append(-delay)
                try:
                    journey.run_one(on_commit=meter.committed)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    stop_polling = threading.Event()
    drain_timeout = params.get("drain_timeout", 60.0)

    def poll() -> None:
        deadline = None
        try:
            while True:
                meter.poll()
                if stop_polling.is_set():
                    deadline = deadline or time.perf_counter() + drain_timeout
                    if not meter.pending or time.perf_counter() > deadline:
                        return
                time.sleep(POLL_SECONDS)
        finally:
            connections.close_all()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    writers = [threading.Thread(target=write, args=(offset + i,), daemon=True) for i in range(threads)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    written_for = time.monotonic() - start
    stop_polling.set()
    poller.join()
    return {
        "commands": meter.commits,
        "written_for": written_for,
        "late_starts": sum(1 for s in late if s > 0.010),
        "errors": errors[:5],
        "unresolved": len(meter.pending),
        "summary_lags": meter.summary_lags,
        "all_lags": meter.all_lags,
    }
