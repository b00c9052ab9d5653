"""Where a load step's CPU went: the machine's busy share and each tier's CPU per request.

A capacity on this machine is a CPU budget: two cores give 2,000 ms of CPU per second, and each request
costs some milliseconds of it across the web workers, the Celery worker (projecting what commands
wrote), PostgreSQL, Redis and the load generator itself. Reading that cost from the step is what
explains a capacity with a measurement rather than an estimate.

Per tier, a sample is the CPU (user + system) of every live process of that tier plus what it reaped:
processes that ended (a PostgreSQL backend closing, a gunicorn worker recycled after ``max_requests``)
are counted by their parent's ``children_*`` times. The machine's busy share comes from /proc/stat and
is the figure that holds however the tiers are split.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import psutil

TIERS = ("web", "worker", "beat", "postgres", "redis", "loadgen")


def _tier(process: psutil.Process) -> str:
    name = process.name()
    if name.startswith("postgres"):
        return "postgres"
    if name.startswith("redis"):
        return "redis"
    command = " ".join(process.cmdline())
    if "locust" in command:
        return "loadgen"
    if "gunicorn" in command or "order-platform-web" in name:
        return "web"
    if "celery" in command:
        return "beat" if " beat" in command else "worker"
    return "other"


def _seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class Sample:
    by_tier: dict[str, float]  # CPU seconds so far, per tier
    busy: float  # the machine's busy CPU seconds so far (all cores)


def sample() -> Sample:
    by_tier = dict.fromkeys((*TIERS, "other"), 0.0)
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            by_tier[_tier(process)] += _seconds(process)
    total = psutil.cpu_times()
    idle = total.idle + getattr(total, "iowait", 0.0)
    busy = sum(total) - idle - getattr(total, "guest", 0.0) - getattr(total, "guest_nice", 0.0)
    return Sample(by_tier=by_tier, busy=busy)


def spent(before: Sample, after: Sample, *, seconds: float, requests: int) -> dict[str, object]:
    """The step's CPU: the machine's busy share (of all cores) and each tier's milliseconds per request.

    A tier's figure can be a little off when a process that ran before the step ended during it (its
    parent's reaped time then holds all of its life); the busy share has no such error."""
    cores = psutil.cpu_count() or 1
    per_request = (
        {
            tier: round(1000 * max(after.by_tier[tier] - before.by_tier[tier], 0.0) / requests, 2)
            for tier in after.by_tier
        }
        if requests
        else {}
    )
    busy_seconds = after.busy - before.busy
    return {
        "cores": cores,
        "busy_share": round(busy_seconds / (seconds * cores), 3) if seconds > 0 else None,
        "busy_ms_per_request": round(1000 * busy_seconds / requests, 2) if requests else None,
        "ms_per_request": per_request,
    }


class StepMeter:
    """Samples at the start and the end of a Locust step's measured window (after its ramp-up), from a
    thread, while the step runs."""

    def __init__(self, *, start_after: float, seconds: float) -> None:
        self.seconds = seconds
        self._samples: list[Sample] = []
        self._thread = threading.Thread(target=self._run, args=(start_after,), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self, start_after: float) -> None:
        time.sleep(start_after)
        self._samples.append(sample())
        time.sleep(self.seconds)
        self._samples.append(sample())

    def result(self, *, requests: float) -> dict[str, object] | None:
        self._thread.join(timeout=5)
        if len(self._samples) != 2:
            return None
        return spent(*self._samples, seconds=self.seconds, requests=round(requests))
