"""The production web server (gunicorn with config/gunicorn.py and the production settings) over TLS.

A real gunicorn on a loopback port with a self-signed certificate: a client that cannot speak TLS 1.3
is refused during the handshake; a TLS 1.3 client gets a token for a user of the test database.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from config.check_deploy import production_env
from tests.security.certs import CertPair, self_signed

pytestmark = pytest.mark.django_db(transaction=True)  # the server process must see the test's user

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "A-long-test-passphrase-42"  # the make_user fixture's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_of_this_run() -> str:
    """The process's DATABASE_URL, pointed at this test run's database."""
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}").geturl()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    tls_version: str | None


class Server:
    def __init__(self, cert: CertPair, log: Path) -> None:
        self.cert, self.port, self.log = cert, free_port(), log
        env = production_env(
            DATABASE_URL=database_url_of_this_run(),
            REDIS_URL=os.environ["REDIS_URL"],
            THROTTLE_KEY_PREFIX=f"throttle-test-{uuid4().hex}:",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            TLS_CERT_FILE=str(cert.cert),
            TLS_KEY_FILE=str(cert.key),
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY="1",
            GUNICORN_THREADS="2",
        )
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py"]
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # fixed argument list
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def client_context(self, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cert.cert))
        if maximum is not None:
            context.maximum_version = maximum
        return context

    def handshake(self, context: ssl.SSLContext) -> str | None:
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            return tls.version()

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                self.handshake(self.client_context())
                return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not serve within {timeout}s:\n{self.log.read_text()}")
                time.sleep(0.2)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.client_context(), timeout=10)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read(), conn.sock.version())
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(self_signed(tmp_path), tmp_path / "gunicorn.log")
    try:
        running.wait_until_serving()
        yield running
    finally:
        running.stop()


def test_a_client_limited_to_tls_1_2_is_refused_in_the_handshake(server: Server) -> None:
    with pytest.raises(ssl.SSLError) as refused:
        server.handshake(server.client_context(maximum=ssl.TLSVersion.TLSv1_2))

    assert "PROTOCOL_VERSION" in str(refused.value).upper()
    assert server.process.poll() is None  # refusing a client is routine, not a crash


def test_a_tls_1_3_client_completes_requests(server: Server, make_user: Any) -> None:
    user = make_user("support")
    # The test profile hashes with MD5 for speed; the server runs the production profile's hashers.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])

    health = server.request("GET", "/healthz")
    token = server.request("POST", "/api/auth/token/", {"username": user.username, "password": PASSWORD})

    assert (health.status, health.tls_version) == (200, "TLSv1.3")
    assert health.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert (token.status, token.tls_version) == (200, "TLSv1.3")
    assert json.loads(token.body)["token"]
    assert server.handshake(server.client_context()) == "TLSv1.3"


def test_the_server_logs_json_without_query_strings(server: Server) -> None:
    server.request("GET", "/healthz?email=ada@example.com")
    server.stop()

    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    assert any(line["logger"] == "config.requests" and line["route"] == "healthz" for line in lines)
    assert "ada@example.com" not in server.log.read_text()
