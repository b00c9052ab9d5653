"""``python -m bench.webhook_receiver SECRET [--hang PATH]``: a webhook receiver on 127.0.0.1 for the
``webhooks`` phase, in a process of its own; prints its port, then answers until killed.

It checks every signature (Standard Webhooks ``v1``: HMAC-SHA256 of ``id.timestamp.body``, written here
from the format, not taken from the platform's code) and answers 204, or 401 if none matches, which the
phase counts from the attempt log. A ``--hang`` path never answers in time (a receiver timing out)."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_SECONDS = 60.0


def verified(key: bytes, body: bytes, headers: Any) -> bool:
    signed = f"{headers.get('webhook-id', '')}.{headers.get('webhook-timestamp', '')}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.removeprefix("v1,") for part in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, signature) for signature in given)


def handler(key: bytes, hang: frozenset[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path in hang:
                time.sleep(HANG_SECONDS)
                self.close_connection = True
                return
            self.send_response(204 if verified(key, body, self.headers) else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender killed mid-request resets its connection: expected at the end of a measurement


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_receiver")
    parser.add_argument("secret", help="the endpoint's signing secret (whsec_…)")
    parser.add_argument("--hang", action="append", default=[], help="a path that never answers in time")
    args = parser.parse_args()
    key = base64.b64decode(args.secret.removeprefix("whsec_"))
    server = _QuietServer(("127.0.0.1", 0), handler(key, frozenset(args.hang)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
