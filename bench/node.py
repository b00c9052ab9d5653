"""A production-like node on loopback: gunicorn (2 workers), a Celery worker (2 processes) and beat.

gunicorn runs with ``config/gunicorn.py`` when it exists (the production server config), bound to
127.0.0.1 on a free port; otherwise with equivalent flags. Every process starts in its own session
so that ``stop`` can end it with all its children, and logs go to files under the scratch folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess  # nosec B404  # starts the node's own processes, fixed argument lists
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from bench.http import raise_open_files_limit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.py"
# Used only without config/gunicorn.py: the same worker model as that file.
FALLBACK_GUNICORN_FLAGS = [
    "--worker-class",
    "gthread",
    "--threads",
    "4",
    "--preload",
    "config.wsgi:application",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    env: dict[str, str]
    scratch: Path
    web_workers: int = 2
    worker_processes: int = 2
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        gunicorn = [str(BIN / "gunicorn")]
        gunicorn += ["-c", str(GUNICORN_CONFIG)] if GUNICORN_CONFIG.exists() else FALLBACK_GUNICORN_FLAGS
        gunicorn += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(self.web_workers)]
        celery = [str(BIN / "celery"), "-A", "config"]
        queue = self.env["CELERY_TASK_DEFAULT_QUEUE"]
        self._spawn("web", gunicorn)
        self._spawn(
            "worker",
            [
                *celery,
                "worker",
                f"--concurrency={self.worker_processes}",
                "--queues",
                queue,
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
            ],
        )
        schedule = self.scratch / "celerybeat-schedule"
        beat = [str(BIN / "celery"), "-A", "config.beat", "beat"]  # the Django-free app, as deployed
        self._spawn("beat", [*beat, "--loglevel=INFO", "--schedule", str(schedule)])
        self.wait_until_serving()

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.scratch / f"{name}.log").open("ab")
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(  # nosec B603  # fixed argument list, no shell
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_open_files_limit,  # as docs/deployment.md has production set it (LimitNOFILE)
        )

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}; see {self.scratch}/{name}.log"
                    )
            if self._healthy() and self._worker_children() >= self.worker_processes:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the node did not come up within {timeout:.0f}s; see {self.scratch}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:  # noqa: S310  # nosec B310
                return bool(answer.status == 200)
        except OSError:
            return False

    def _worker_children(self) -> int:
        with contextlib.suppress(psutil.Error):
            return len(psutil.Process(self.processes["worker"].pid).children())
        return 0

    def memory(self) -> dict[str, Any]:
        """RSS, PSS and USS of every process of the node, in MB; PSS shares pages out fairly, so its sum is
        the node's real footprint (a sum of RSS counts the pages forked workers share once per worker)."""
        processes = []
        for name, popen in self.processes.items():
            root = psutil.Process(popen.pid)
            for role, process in [(f"{name} main", root)] + [
                (name, p) for p in root.children(recursive=True)
            ]:
                try:
                    info = process.memory_full_info()
                except psutil.NoSuchProcess:  # a web worker recycled (max_requests) meanwhile
                    continue
                processes.append(
                    {
                        "role": role,
                        "pid": process.pid,
                        "rss_mb": info.rss / 2**20,
                        "pss_mb": info.pss / 2**20,
                        "uss_mb": info.uss / 2**20,
                    }
                )
        web = [p for p in processes if p["role"] == "web"]
        celery = [p for p in processes if p["role"].startswith("worker")]
        return {
            "processes": processes,
            "web_worker_rss_mb": max(p["rss_mb"] for p in web),
            "web_worker_pss_mb": max(p["pss_mb"] for p in web),
            "celery_worker_rss_mb": max(p["rss_mb"] for p in celery),
            "celery_worker_pss_mb": max(p["pss_mb"] for p in celery),
            "node_pss_mb": sum(p["pss_mb"] for p in processes),
            "node_rss_mb": sum(p["rss_mb"] for p in processes),
        }

    def stop(self) -> None:
        """SIGTERM each process group, then SIGKILL what is left after 20 s; close the logs."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
