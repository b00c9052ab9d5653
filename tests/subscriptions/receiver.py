"""A webhook receiver on 127.0.0.1 for tests: verifies every request with the standardwebhooks library
(not the platform's own signing code), keeps an inbox unique by webhook-id, counts duplicates, and
answers as scripted: 500 N times, 429 with Retry-After, 410, hang, or reset the connection."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender killed mid-request resets its connection: expected here, not worth a traceback


@dataclass
class Script:
    """What the receiver answers next, per path: a list of actions used up in order, then 204."""

    actions: dict[str, list[str]] = field(default_factory=dict)

    def next(self, path: str) -> str:
        queue = self.actions.get(path)
        return queue.pop(0) if queue else "204"


class Receiver:
    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.script = Script()
        self.lock = threading.Lock()
        # Keyed by webhook-id, prefixed by the path for every path but /hook (one endpoint per path).
        self.inbox: dict[str, dict[str, Any]] = {}  # key -> body
        self.received: Counter[str] = Counter()  # key -> requests that passed verification
        self.arrivals: list[tuple[str, float, dict[str, Any]]] = []  # path, monotonic time, body
        self.bad_signatures = 0
        self.truncated = 0  # requests cut short by a killed sender
        self.hang_seconds = 30.0
        self.delay_seconds = 0.0  # before every answer: keeps requests in flight (the chaos run)
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def duplicates(self) -> int:
        return sum(count - 1 for count in self.received.values())

    def _verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        for secret in self.secrets:
            try:
                return Webhook(secret).verify(body, headers)  # type: ignore[no-any-return]
            except WebhookVerificationError:
                continue
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                expected = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(expected)
                if len(body) < expected:  # the sender died mid-request: nothing to verify or answer
                    with receiver.lock:
                        receiver.truncated += 1
                    self.close_connection = True
                    return
                action = receiver.script.next(self.path)
                if action == "reset":
                    # SO_LINGER 0: close sends RST, the sender sees a reset connection.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if action == "hang":
                    time.sleep(receiver.hang_seconds)
                    self.close_connection = True
                    return
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                data = receiver._verify(body, dict(self.headers.items()))
                with receiver.lock:
                    if data is None:
                        receiver.bad_signatures += 1
                    elif action in ("204", "200"):
                        key = data["id"] if self.path == "/hook" else f"{self.path} {data['id']}"
                        receiver.received[key] += 1
                        receiver.inbox.setdefault(key, data)
                        receiver.arrivals.append((self.path, time.monotonic(), data))
                status = 401 if data is None else int(action.split(":")[0])
                extra = {"Retry-After": action.split(":", 1)[1]} if status == 429 and ":" in action else {}
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                reply = json.dumps({"status": status}).encode() if status != 204 else b""
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler


@contextmanager
def running_receiver(secrets: list[str]) -> Iterator[Receiver]:
    receiver = Receiver(secrets)
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


if __name__ == "__main__":  # a receiver in a process of its own (benchmarks): prints its port
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("secrets", nargs="+")
    parser.add_argument("--hang", action="append", default=[], help="a path that never answers in time")
    arguments = parser.parse_args()
    with running_receiver(arguments.secrets) as r:
        for path in arguments.hang:
            r.script.actions[path] = ["hang"] * 1_000_000
        print(r.port, flush=True)
        threading.Event().wait()
