"""HTTP load with Locust (headless), one run per scenario and concurrency; figures from its CSV."""

from __future__ import annotations

import csv
import os
import resource
import signal
import subprocess  # nosec B404  # starts locust, fixed argument list
import sys
import time
from pathlib import Path
from typing import Any

from bench import cpu

ROOT = Path(__file__).resolve().parent.parent
LOCUST = Path(sys.executable).parent / "locust"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
LOCUST_START_S = 1.0  # from the process start to its first request, about

# scenario -> Locust user class (bench/locustfile.py)
SCENARIOS = {
    "healthz": "HealthUser",
    "read_detail": "DetailUser",
    "peer_detail": "PeerDetailUser",
    "read_list": "ListUser",
    "write": "WriteUser",
}


def run_locust(
    *,
    url: str,
    scenario: str,
    users: int,
    seconds: float,
    scratch: Path,
    fixtures: Path,
    locustfile: Path = LOCUSTFILE,
    classes: list[str] | None = None,
    spawn_rate: float | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One headless Locust run. By default all users start at once (closed loop); with ``spawn_rate``
    they start at that rate and ``seconds`` counts from when all of them run (the statistics too)."""
    prefix = scratch / f"locust-{scenario}-{users}"
    ramp = 0.0 if spawn_rate is None else users / spawn_rate
    command = [
        str(LOCUST),
        "-f",
        str(locustfile),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate or users * 50),  # everyone at once unless a rate is given
        "--reset-stats",  # count from the moment all users run
        "--run-time",
        f"{seconds + ramp:.0f}s",
        "--stop-timeout",
        "10",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        *(classes or [SCENARIOS[scenario]]),
    ]
    env = {**os.environ, **(env or {}), "BENCH_FIXTURES": str(fixtures)}
    with (scratch / f"locust-{scenario}-{users}.log").open("wb") as log:
        process = subprocess.Popen(  # nosec B603  # fixed argument list, no shell
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_open_files_limit,  # one socket per user
        )
        started = time.monotonic()
        # Locust's start-up (about a second) is left out of the CPU window, as the statistics leave it out.
        meter = cpu.StepMeter(start_after=ramp + LOCUST_START_S, seconds=max(seconds - LOCUST_START_S, 1.0))
        meter.start()
        cpu_seconds = _wait(process, timeout=seconds + ramp + 60)
    if process.returncode != 0:
        raise RuntimeError(f"locust {scenario} x{users} exited with {process.returncode}; see {prefix}.log")
    result = _parse(Path(f"{prefix}_stats.csv"))
    result["loadgen_cpu_s"] = cpu_seconds
    result["loadgen_cpu_share"] = cpu_seconds / max(time.monotonic() - started, 1e-9)  # of one core
    result["cpu"] = meter.result(requests=result["all"]["rps"] * meter.seconds)
    return result


def raise_open_files_limit() -> None:
    """The soft limit on open files up to the hard one (a user or a client connection is a socket)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _wait(process: subprocess.Popen[bytes], *, timeout: float) -> float:
    """Wait for locust; return the CPU seconds it used (the load generator shares the 2 cores)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_utime + usage.ru_stime)
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise TimeoutError(f"locust did not finish within {timeout:.0f}s")


def _parse(path: Path) -> dict[str, Any]:
    rows = {row["Name"]: row for row in csv.DictReader(path.open())}
    return {
        "all": _figures(rows.pop("Aggregated")),
        "requests": {name: _figures(row) for name, row in rows.items()},
    }


def _figures(row: dict[str, str]) -> dict[str, float]:
    def number(column: str) -> float:
        value = row.get(column, "")
        return float(value) if value not in ("", "N/A") else float("nan")

    return {
        "requests": number("Request Count"),
        "failures": number("Failure Count"),
        "rps": number("Requests/s"),
        "mean": number("Average Response Time"),
        "p50": number("50%"),
        "p95": number("95%"),
        "p99": number("99%"),
        "max": number("Max Response Time"),
    }
