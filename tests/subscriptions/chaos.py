"""The chaos run: events committed while fan-out and sender processes are SIGKILLed at random; every
(endpoint, event) must reach the loopback receiver, verified, and duplicates are counted and explained.

Used by ``test_chaos.py`` at a size ``make test`` can afford and, at full size (10,000 events to 20
endpoints, 20 kills), by ``make webhook-chaos``."""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db import connection, connections

from subscriptions import services
from subscriptions.envelope import event_id
from subscriptions.models import Delivery, Endpoint
from tests.subscriptions.conftest import append_payments
from tests.subscriptions.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ChaosReport:
    events: int
    endpoints: int
    kills: int
    expected_deliveries: int
    received_unique: int
    lost: int
    phantoms: int
    duplicates: int
    duplicates_unexplained: int  # a duplicate of a delivery that was never resent (attempts == 1)
    bad_signatures: int
    truncated_requests: int  # cut short by a killed sender (then sent again)
    seconds: float
    deliveries_per_second: float


class Process:
    def __init__(self, role: str, env: dict[str, str]) -> None:
        self.role, self.env = role, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "manage.py", "run_webhooks", "--role", self.role]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


def run_chaos(
    *,
    receiver: Receiver,
    make_endpoint: Callable[..., Endpoint],
    events: int,
    endpoints: int,
    kills: int,
    writers: int = 4,
    kill_every: float = 0.5,
    timeout: float = 600,
) -> ChaosReport:
    made = [make_endpoint(receiver.url(f"/e{i}")) for i in range(endpoints)]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "SUBSCRIPTION_LEASE_SECONDS": "3",
        "SUBSCRIPTION_FANOUT_BATCH_SIZE": "200",
    }
    processes = [Process(role, env) for role in ("fanout", "fanout", "sender", "sender")]
    try:
        positions, expected, seconds = _drive(
            receiver, made, processes, events, endpoints, kills, writers, kill_every, timeout
        )
    finally:
        for process in processes:
            process.kill()
    return _report(receiver, made, positions, expected, kills, seconds)


def _drive(
    receiver: Receiver,
    made: list[Endpoint],
    processes: list[Process],
    events: int,
    endpoints: int,
    kills: int,
    writers: int,
    kill_every: float,
    timeout: float,
) -> tuple[list[int], set[tuple[str, int]], float]:
    for process in processes:
        process.start()

    positions: list[int] = []
    lock = threading.Lock()
    per_writer = events // writers

    def write(i: int) -> None:
        try:
            written = 0
            while written < per_writer:
                batch = min(10, per_writer - written)
                got = append_payments(batch, per_transaction=batch)
                with lock:
                    positions.extend(got)
                written += batch
                time.sleep(0.005)
        finally:
            connections.close_all()

    started = time.monotonic()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()

    rng = random.Random(20)
    rotated = False
    for kill in range(kills):
        time.sleep(rng.uniform(0.4, 1.6) * kill_every)  # while events commit, and while they are sent
        # Two kills in three hit a sender (the fan-out's kills are cheaper to survive: one transaction).
        victim = rng.choice(processes[2:] if kill % 3 else processes[:2])
        victim.kill()
        victim.start()
        if not rotated and kill >= kills // 2:
            # Rotate every secret mid-run; 5 s later the receiver knows only the new ones: within
            # the overlap both sign, so nothing fails verification on either side of the switch.
            new_secrets = [services.rotate_secret(endpoint) for endpoint in made]
            threading.Timer(5.0, functools.partial(setattr, receiver, "secrets", new_secrets)).start()
            rotated = True
    for thread in threads:
        thread.join(timeout)

    expected = {(f"/e{i}", p) for i in range(endpoints) for p in positions}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {(body_path(key), body["position"]) for key, body in list(receiver.inbox.items())}
        if expected <= got:
            break
        time.sleep(0.5)
    return positions, expected, time.monotonic() - started


def body_path(key: str) -> str:
    return key.split(" ", 1)[0]


def _report(
    receiver: Receiver,
    made: list[Endpoint],
    positions: list[int],
    expected: set[tuple[str, int]],
    kills: int,
    seconds: float,
) -> ChaosReport:
    got: dict[tuple[str, int], dict[str, Any]] = {
        (body_path(key), body["position"]): body for key, body in receiver.inbox.items()
    }
    from orders.models import StoredEvent

    log = {
        row.position: event_id(row.stream_id, row.version)
        for row in StoredEvent.objects.filter(position__in=positions).only("position", "stream_id", "version")
    }
    phantoms = sum(1 for (_, p), body in got.items() if log.get(p) != body["id"])
    paths = {f"/e{i}": endpoint.pk for i, endpoint in enumerate(made)}
    attempts = {
        (endpoint_id, position): count
        for endpoint_id, position, count in Delivery.objects.values_list(
            "endpoint_id", "position", "attempts"
        )
    }
    unexplained = 0
    for key, count in receiver.received.items():
        if count > 1:
            body = receiver.inbox[key]
            if attempts.get((paths[body_path(key)], body["position"]), 0) < 2:
                unexplained += 1
    return ChaosReport(
        events=len(positions),
        endpoints=len(made),
        kills=kills,
        expected_deliveries=len(expected),
        received_unique=len(set(got) & expected),
        lost=len(expected - set(got)),
        phantoms=phantoms,
        duplicates=receiver.duplicates(),
        duplicates_unexplained=unexplained,
        bad_signatures=receiver.bad_signatures,
        truncated_requests=receiver.truncated,
        seconds=round(seconds, 1),
        deliveries_per_second=round(len(expected) / seconds, 1),
    )


def as_dict(report: ChaosReport) -> dict[str, Any]:
    return asdict(report)
