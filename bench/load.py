"""Closed-loop throughput: writers repeat one unit of work for a fixed time, all started together.

``writers`` are spread over ``processes`` forked processes of ``writers / processes`` threads each. One
Python process runs Python code on one core at a time (the GIL), so on a 2-core node 16 writers are
2 processes of 8 threads, as the web node runs them (2 gunicorn workers with threads). Every
figure, baselines included, is measured in the same shape.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# make_worker(i) -> (work, close), called in the writer's own thread (and process): set-up and one
# warm-up call of work() happen before the clock starts; work() returns the events it wrote (a command
# may write several); close() runs at the end. Resources (connections) must be made here, not before:
# a process that is forked must not share its parent's sockets.
Work = Callable[[], int]
MakeWorker = Callable[[int], tuple[Work, Callable[[], None]]]


@dataclass(frozen=True)
class Throughput:
    threads: int
    processes: int
    seconds: float
    operations: int
    events: int
    errors: int
    first_error: str
    cpu_seconds: float  # user + system CPU of the writer processes while the clock ran

    def as_dict(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "processes": self.processes,
            "seconds": round(self.seconds, 3),
            "operations": self.operations,
            "events": self.events,
            "errors": self.errors,
            "first_error": self.first_error,
            "operations_per_s": self.operations / self.seconds,
            "events_per_s": self.events / self.seconds,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_us_per_operation": 1e6 * self.cpu_seconds / self.operations if self.operations else None,
            "cpu_us_per_event": 1e6 * self.cpu_seconds / self.events if self.events else None,
        }


def measure(
    writers: int,
    seconds: float,
    make_worker: MakeWorker,
    *,
    processes: int = 1,
    before_fork: Callable[[], None] | None = None,
) -> Throughput:
    """Run ``writers`` writers for ``seconds``; each process's clock stops when its last writer is done."""
    processes = max(1, min(processes, writers))
    if processes == 1:
        return _in_threads(writers, seconds, make_worker, first=0)
    if before_fork is not None:
        before_fork()  # e.g. close the parent's database connections
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes)
    answers = context.Queue()
    per_process = writers // processes
    children = [
        context.Process(
            target=_child,
            args=(
                answers,
                start,
                per_process + (1 if p < writers % processes else 0),
                seconds,
                make_worker,
                p,
            ),
        )
        for p in range(processes)
    ]
    for child in children:
        child.start()
    parts: list[Throughput] = [answers.get(timeout=seconds + 300) for _ in children]
    for child in children:
        child.join()
    return Throughput(
        threads=writers,
        processes=processes,
        seconds=max(p.seconds for p in parts),
        operations=sum(p.operations for p in parts),
        events=sum(p.events for p in parts),
        errors=sum(p.errors for p in parts),
        first_error=next((p.first_error for p in parts if p.first_error), ""),
        cpu_seconds=sum(p.cpu_seconds for p in parts),
    )


def _child(
    answers: Any, start: Any, threads: int, seconds: float, make_worker: MakeWorker, index: int
) -> None:
    try:
        answers.put(_in_threads(threads, seconds, make_worker, first=index * 1000, start=start))
    except Exception as exc:
        start.abort()
        failed = f"process failed: {type(exc).__name__}: {exc}"
        answers.put(Throughput(threads, 1, seconds, 0, 0, 1, failed, cpu_seconds=0.0))


def _in_threads(
    threads: int, seconds: float, make_worker: MakeWorker, *, first: int, start: Any = None
) -> Throughput:
    ready = threading.Barrier(threads + 1)
    go, stop = threading.Event(), threading.Event()
    counts = [[0, 0, 0] for _ in range(threads)]  # operations, events, errors
    errors: list[str] = []

    def body(i: int) -> None:
        close: Callable[[], None] = lambda: None  # noqa: E731
        try:
            work, close = make_worker(first + i)
            work()  # warm-up, not counted: lazy imports, first connections, statement caches
            ready.wait()
            go.wait()
            while not stop.is_set():
                try:
                    events = work()
                except Exception as exc:  # counted and shown, so a broken bench cannot look fast
                    counts[i][2] += 1
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                counts[i][0] += 1
                counts[i][1] += events
        except threading.BrokenBarrierError:
            pass
        except Exception as exc:
            errors.append(f"set-up failed: {type(exc).__name__}: {exc}")
            ready.abort()
        finally:
            close()

    workers = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        ready.wait()
        if start is not None:
            start.wait(timeout=300)  # every process is ready: start together
    except threading.BrokenBarrierError:
        stop.set()
        go.set()
        for worker in workers:
            worker.join()
        raise RuntimeError(errors[0] if errors else "a writer failed to start") from None
    started, cpu_before = time.perf_counter(), _process_cpu()
    go.set()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.perf_counter() - started, _process_cpu() - cpu_before
    return Throughput(
        threads=threads,
        processes=1,
        seconds=elapsed,
        operations=sum(c[0] for c in counts),
        events=sum(c[1] for c in counts),
        errors=sum(c[2] for c in counts),
        first_error=errors[0] if errors else "",
        cpu_seconds=cpu,
    )


def _process_cpu() -> float:
    """This process's user + system CPU seconds, all threads: the client side of what is measured."""
    times = os.times()
    return times.user + times.system
