"""The write probe: clients that send commands through the HTTP API and record every acknowledgement.

Each logical command gets one id, sent both as ``Idempotency-Key`` and as ``X-Request-ID``; the
platform stores the request id as the events' ``correlation_id``, so the event log itself can tell
afterwards whether an acknowledged command is there (not lost) and whether it is there once (not
applied twice). A command whose attempt fails — a 503 while the database is away, a dropped
connection — is retried with the same id until it is acknowledged: the client behaviour the platform
promises is safe.

Customers create orders (``POST /api/orders/``) and a manager adds notes to them
(``POST /api/orders/{id}/notes/``): two command kinds, no stock or payment rules in the way, any rate.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

NOTES_PER_ORDER = 20
# Faster than the Retry-After the platform sends (1 s), so RTO measures the platform, not our sleep.
RETRY_INTERVAL = 0.05
REQUEST_TIMEOUT = 15.0


@dataclass(frozen=True)
class Ack:
    """An acknowledged command: what the platform answered 200/201 to."""

    kind: str
    command_id: str  # Idempotency-Key, X-Request-ID and the events' correlation_id
    order_id: str
    version: int
    consistency_token: str
    first_sent_at: float  # time.monotonic() when the first attempt was sent
    sent_at: float  # ... and when the acknowledged one was
    acked_at: float
    attempts: int
    replayed: bool  # answered from the idempotency record: an earlier attempt had committed


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def code(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code", "")) if isinstance(error, dict) else ""


class Api:
    """A tiny JSON client over http.client: a fresh connection per request, so a request that fails
    is always the request's own failure, never a stale keep-alive socket's."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port, self.token = port, token

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            sent = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
            if self.token:
                sent["Authorization"] = f"Token {self.token}"
            connection.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
            reply = connection.getresponse()
            raw = reply.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, parsed)
        finally:
            connection.close()

    def login(self, username: str, password: str) -> str:
        response = self.call("POST", "/api/auth/token/", {"username": username, "password": password})
        if response.status != 200:
            raise RuntimeError(f"login as {username} failed: {response.status} {response.body}")
        return str(response.body["token"])


@dataclass
class ProbeLog:
    """What every probe thread saw, behind one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acks: list[Ack] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)  # every command id that was tried at least once
    failed_attempts: Counter[str] = field(default_factory=Counter)  # "503 database_unavailable", ...
    abandoned: list[str] = field(default_factory=list)  # not acknowledged by the end, or refused for good

    def ack(self, ack: Ack) -> None:
        with self.lock:
            self.acks.append(ack)

    def attempt(self, command_id: str) -> None:
        with self.lock:
            self.sent.add(command_id)

    def failure(self, what: str) -> None:
        with self.lock:
            self.failed_attempts[what] += 1

    def give_up(self, command_id: str) -> None:
        with self.lock:
            self.abandoned.append(command_id)

    def snapshot(self) -> list[Ack]:
        with self.lock:
            return list(self.acks)


class WriteProbe:
    """``threads`` writers, each creating an order now and then and adding notes to it in between."""

    def __init__(
        self, *, port: int, customer_token: str, manager_token: str, threads: int = 4, pause: float = 0.01
    ) -> None:
        self.customer, self.manager = Api(port, customer_token), Api(port, manager_token)
        self.threads_wanted, self.pause = threads, pause
        self.log = ProbeLog()
        self._stop = threading.Event()
        self._give_up_at = float("inf")
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.threads_wanted):
            thread = threading.Thread(target=self._write, name=f"probe-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, *, drain: float = 30.0) -> None:
        """No new commands; a command in flight keeps retrying for up to ``drain`` seconds."""
        self._give_up_at = time.monotonic() + drain
        self._stop.set()
        for thread in self._threads:
            thread.join(drain + REQUEST_TIMEOUT + 5)

    def first_ack_sent_after(self, moment: float) -> Ack | None:
        later = [a for a in self.log.snapshot() if a.sent_at >= moment]
        return min(later, key=lambda a: a.acked_at) if later else None

    def _write(self) -> None:
        order_id, notes = None, 0
        while not self._stop.is_set():
            if order_id is None or notes >= NOTES_PER_ORDER:
                ack = self._until_acknowledged("create_order", self.customer, "/api/orders/", {})
                order_id, notes = (ack.order_id if ack else None), 0
            else:
                command_id = str(uuid.uuid4())
                path = f"/api/orders/{order_id}/notes/"
                ack = self._until_acknowledged(
                    "add_note", self.manager, path, {"text": f"probe {command_id}"}, command_id=command_id
                )
                notes += 1
                if ack is None:
                    order_id = None  # e.g. the order itself was lost with an asynchronous failover
            time.sleep(self.pause)

    def _until_acknowledged(
        self, kind: str, api: Api, path: str, body: dict[str, Any], *, command_id: str | None = None
    ) -> Ack | None:
        command_id = command_id or str(uuid.uuid4())
        headers = {"Idempotency-Key": command_id, "X-Request-ID": command_id}
        attempts, first_sent_at = 0, time.monotonic()
        while time.monotonic() < self._give_up_at:
            attempts += 1
            self.log.attempt(command_id)
            sent_at = time.monotonic()
            try:
                response = api.call("POST", path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                self.log.failure(f"connection error: {type(exc).__name__}")
                time.sleep(RETRY_INTERVAL)
                continue
            if response.status in (200, 201):
                ack = _ack(kind, command_id, response, sent=(first_sent_at, sent_at), attempts=attempts)
                self.log.ack(ack)
                return ack
            self.log.failure(f"{response.status} {response.code}".strip())
            if not _worth_retrying(response):
                break
            time.sleep(RETRY_INTERVAL)
        self.log.give_up(command_id)
        return None


def _worth_retrying(response: Response) -> bool:
    """5xx and "the first attempt is still running" (409) are transient; other 4xx are final answers.
    A 500 must not happen; it is counted, and retried like any other failure (the key makes it safe)."""
    return response.status >= 500 or response.code == "idempotency_key_in_use"


def _ack(kind: str, command_id: str, response: Response, *, sent: tuple[float, float], attempts: int) -> Ack:
    return Ack(
        kind=kind,
        command_id=command_id,
        order_id=str(response.body["id"]),
        version=int(response.body["version"]),
        consistency_token=response.headers.get("x-consistency-token", ""),
        first_sent_at=sent[0],
        sent_at=sent[1],
        acked_at=time.monotonic(),
        attempts=attempts,
        replayed=response.headers.get("idempotent-replayed") == "true",
    )
