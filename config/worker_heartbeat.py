"""Workers say they are alive in Redis, so ``/readyz`` reads a key instead of asking them.

A broadcast to the workers (``active_queues``) waits its whole timeout for replies, about a second per
probe. Instead each worker, once ready, writes ``<prefix>:<queue>:<worker>`` with a TTL
(``WORKER_HEARTBEAT_TTL``, 10 s) for every queue it consumes, renewed from a thread every third of the
TTL, and adds its name to the queue's set. The check counts the set's members whose key still exists:
a worker killed outright drops out within the TTL, one shut down cleanly at once.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import redis
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

KEY_PREFIX = "order-platform:worker-heartbeat"


def _members_key(queue: str) -> str:
    return f"{KEY_PREFIX}:{queue}"


def _worker_key(queue: str, worker: str) -> str:
    return f"{KEY_PREFIX}:{queue}:{worker}"


def client(*, timeout: float) -> redis.Redis:
    """One attempt with a bounded wait: a probe asks again soon, a heartbeat beats again soon."""
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def beat(connection: redis.Redis, *, worker: str, queues: list[str], ttl: float) -> None:
    with connection.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.set(_worker_key(queue, worker), "1", px=int(ttl * 1000))
            pipe.sadd(_members_key(queue), worker)
        pipe.execute()


def live_workers(connection: redis.Redis, *, queue: str) -> int:
    """How many workers of ``queue`` beat within their TTL; forgets the names of those that stopped."""
    members = sorted(
        name.decode() if isinstance(name, bytes) else name
        for name in connection.smembers(_members_key(queue))
    )
    if not members:
        return 0
    alive = connection.mget([_worker_key(queue, name) for name in members])
    gone = [name for name, value in zip(members, alive, strict=True) if value is None]
    if gone:
        connection.srem(_members_key(queue), *gone)
    return len(members) - len(gone)


class Heartbeat(threading.Thread):
    """Renews this worker's keys until the worker shuts down; a failed beat is retried at the next."""

    def __init__(self, *, worker: str, queues: list[str], ttl: float) -> None:
        super().__init__(name="worker-heartbeat", daemon=True)
        self.worker, self.queues, self.ttl = worker, queues, ttl
        self.stopped = threading.Event()

    def run(self) -> None:
        connection = client(timeout=self.ttl / 3)
        while not self.stopped.is_set():
            # Redis away: the key runs out and /readyz says so, which is the truth.
            with contextlib.suppress(redis.RedisError):
                beat(connection, worker=self.worker, queues=self.queues, ttl=self.ttl)
            self.stopped.wait(self.ttl / 3)

    def stop(self) -> None:
        """Stop beating and take this worker out at once (a clean shutdown need not wait for the TTL)."""
        self.stopped.set()
        with contextlib.suppress(redis.RedisError):  # the TTL removes it anyway
            connection = client(timeout=1.0)
            for queue in self.queues:
                connection.delete(_worker_key(queue, self.worker))
                connection.srem(_members_key(queue), self.worker)


_running: list[Heartbeat] = []


@worker_ready.connect
def start_heartbeat(sender: Any, **kwargs: Any) -> None:
    queues = sorted(queue.name for queue in sender.task_consumer.queues)
    heartbeat = Heartbeat(worker=sender.hostname, queues=queues, ttl=settings.WORKER_HEARTBEAT_TTL)
    heartbeat.start()
    _running.append(heartbeat)


@worker_shutdown.connect
def stop_heartbeat(**kwargs: Any) -> None:
    while _running:
        _running.pop().stop()
