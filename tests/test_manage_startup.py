"""``manage.py`` in a plain shell: the local profile finds the embedded servers by itself, every other
profile says what is missing in one line. Real processes, real servers (the ones `make test` runs)."""

from __future__ import annotations

import os
import subprocess  # nosec B404  # runs manage.py with a fixed argument list
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psutil
import pytest
from django.db import connection

from config.embedded_services import PG_DIR, REDIS_SOCKET

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, settings: str) -> subprocess.CompletedProcess[str]:
    """``manage.py ARGS`` as typed in a shell where DATABASE_URL and REDIS_URL are not set."""
    environment = {
        name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")
    }
    environment["DJANGO_SETTINGS_MODULE"] = settings
    return subprocess.run(  # nosec B603  # fixed argument list, no shell
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_local_profile_uses_the_embedded_servers_under_var() -> None:
    script = (
        "from django.conf import settings; from django.db import connection;"
        "connection.ensure_connection();"
        "print(connection.connection.info.host); print(settings.REDIS_URL)"
    )
    result = manage("shell", "--verbosity", "0", "-c", script, settings="config.settings.local")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(PG_DIR), f"unix://{REDIS_SOCKET}"]


def test_local_profile_command_help_works_without_urls() -> None:
    result = manage("create_user", "--help", settings="config.settings.local")

    assert result.returncode == 0, result.stderr
    assert "--role" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("profile", ["config.settings.production", "config.settings.test"])
def test_other_profiles_say_a_missing_url_in_one_line(profile: str) -> None:
    result = manage("create_user", "--help", settings=profile)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "manage.py: configuration error: Set the DATABASE_URL environment variable"
    ]
    assert result.stdout == ""


def test_two_commands_starting_the_embedded_servers_at_once_share_one_of_each(tmp_path: Path) -> None:
    """Two first commands on a fresh machine: the lock lets one start each server, the other reuses it."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "XDG_RUNTIME_DIR")
    }
    environment["VAR_DIR"] = str(tmp_path / "var")
    command = [sys.executable, "-m", "config.embedded_services", "env"]
    try:
        starts = [
            subprocess.Popen(  # nosec B603  # fixed argument list, no shell
                command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [start.communicate(timeout=120) for start in starts]

        assert [start.returncode for start in starts] == [0, 0], outputs
        assert outputs[0][0] == outputs[1][0]
        assert f"unix://{tmp_path / 'var' / 'redis' / 'redis.sock'}" in outputs[0][0]
        assert str(tmp_path / "var" / "postgres") in outputs[0][0]
        socket = str(tmp_path / "var" / "redis" / "redis.sock")
        redis_servers = [
            p for p in psutil.process_iter(["cmdline"]) if socket in " ".join(p.info["cmdline"] or [])
        ]
        assert len(redis_servers) == 1, "a second Redis took the socket over, the first runs on, orphaned"
    finally:
        for server in psutil.process_iter(["cmdline"]):
            if str(tmp_path) in " ".join(server.info["cmdline"] or []) and "redis-server" in server.name():
                server.kill()
        subprocess.run(  # nosec B603  # fixed argument list, no shell
            [sys.executable, "-m", "config.embedded_services", "stop"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.mark.parametrize("command", [["worker", "--loglevel", "info"], ["beat"], ["inspect", "ping"]])
def test_celery_outside_the_local_profile_says_a_missing_url_in_one_line(command: list[str]) -> None:
    environment = {
        name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")
    }
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = subprocess.run(  # nosec B603  # fixed argument list, no shell
        [sys.executable, "-m", "celery", "-A", "config", *command],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "celery: configuration error: Set the DATABASE_URL environment variable"
    ]


@pytest.fixture
def empty_database(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """A fresh database on the test server that ``migrate`` has never seen; its DATABASE_URL."""
    name = f"unmigrated_{uuid4().hex[:12]}"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
    try:
        yield urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))
    finally:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


@pytest.mark.parametrize(
    "command",
    [
        ["rebuild_projection", "--all"],
        ["rebase_projections"],
        ["create_user", "someone", "--role", "manager", "--password", "a-long-enough-password-1"],
        ["erase_customer", "1"],
        ["load_demo"],
    ],
)
def test_commands_on_an_unmigrated_database_say_so_in_one_line(
    empty_database: str, command: list[str]
) -> None:
    environment = {
        **os.environ,
        "DATABASE_URL": empty_database,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    result = subprocess.run(  # nosec B603  # fixed argument list, no shell
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "manage.py: the database is not migrated: run manage.py migrate"
    ]
