"""Child processes of the drill: each in its own session, logging to a file, stopped or killed as a group.

A process group per service is what lets the drill kill a whole PostgreSQL server (postmaster and every
backend, as a lost machine would lose them) with one ``killpg`` and be sure nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess  # nosec B404  # starts fixed programs (postgres, gunicorn, celery), never a shell
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class DrillError(RuntimeError):
    """The drill could not set up or measure what it should; the message says what and where to look."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Call ``condition`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DrillError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Service:
    """A started child process (and its process group) with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once: no shutdown, no flush, as if the machine died."""
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Ask the group to stop; SIGKILL whatever is left after ``timeout``. Safe to call twice."""
        if self.alive():
            self._signal_group(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Children that outlived their leader (a backend, a gunicorn worker) go too.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    @contextlib.contextmanager
    def stopped_on_error(self) -> Iterator[None]:
        """For a start-up wait: if it fails, the process must not outlive it."""
        try:
            yield
        except BaseException:
            self.stop()
            raise

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        # The group id is the leader's pid (start_new_session); it outlives the leader while members do.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


def start_service(
    name: str,
    argv: Sequence[str],
    *,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Service:
    """Start ``argv`` in a new session (its own process group), stdout and stderr to ``<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # nosec B603  # argv is built by the drill from fixed program paths
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=_group_of(user),
            extra_groups=[] if user else None,
        )
    return Service(name=name, process=process, log_path=log_path)


def run(argv: Sequence[str], *, what: str, timeout: float, user: str | None = None, **kwargs: Any) -> str:
    """Run a command to completion; return its stdout, or raise ``DrillError`` with its output."""
    try:
        done = subprocess.run(  # nosec B603  # argv is built by the drill from fixed program paths
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            user=user,
            group=_group_of(user),
            extra_groups=[] if user else None,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        raise DrillError(f"{what}: no answer after {timeout:.0f}s") from exc
    if done.returncode != 0:
        raise DrillError(
            f"{what} failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def _group_of(user: str | None) -> int | None:
    if user is None:
        return None
    import pwd

    return pwd.getpwnam(user).pw_gid
