"""HTTP load with Locust (headless), one run per scenario and concurrency; figures from its CSV."""

from __future__ import annotations

import csv
import os
import signal
import subprocess  # nosec B404  # starts locust, fixed argument list
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCUST = Path(sys.executable).parent / "locust"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"

# scenario -> Locust user class (bench/locustfile.py)
SCENARIOS = {
    "healthz": "HealthUser",
    "read_detail": "DetailUser",
    "read_list": "ListUser",
    "write": "WriteUser",
}


def run_locust(
    *, url: str, scenario: str, users: int, seconds: float, scratch: Path, fixtures: Path
) -> dict[str, Any]:
    prefix = scratch / f"locust-{scenario}-{users}"
    command = [
        str(LOCUST),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users * 50),  # everyone at once
        "--reset-stats",  # count from the moment all users run
        "--run-time",
        f"{seconds:g}s",
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
        SCENARIOS[scenario],
    ]
    env = {**os.environ, "BENCH_FIXTURES": str(fixtures)}
    with (scratch / f"locust-{scenario}-{users}.log").open("wb") as log:
        process = subprocess.Popen(  # nosec B603  # fixed argument list, no shell
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        cpu_seconds = _wait(process, timeout=seconds + 60)
    if process.returncode != 0:
        raise RuntimeError(f"locust {scenario} x{users} exited with {process.returncode}; see {prefix}.log")
    result = _parse(Path(f"{prefix}_stats.csv"))
    result["loadgen_cpu_s"] = cpu_seconds
    return result


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
