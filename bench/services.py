"""PostgreSQL and Redis for the bench, and the bench's own databases on that PostgreSQL.

By default the embedded servers of ``config.embedded_services`` (started if they are not running, and
then stopped again at the end); ``DATABASE_URL`` / ``REDIS_URL`` point the bench at other servers. The
bench never writes to the database it is given: it creates ``bench_<pid>`` databases beside it and
drops them at the end (and drops those a crashed run left behind).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from config import embedded_services

_BENCH_DB = re.compile(r"^bench_(\d+)(_[a-z]+)?$")


@dataclass(frozen=True)
class Services:
    server_url: str  # the given (or embedded) database: only used to create and drop bench databases
    redis_url: str
    started_postgres: bool
    started_redis: bool


def start() -> Services:
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    started_postgres = started_redis = False
    if not database_url:
        started_postgres = not _embedded_postgres_running()
        database_url = embedded_services.start_postgres()
    if not redis_url:
        started_redis = not embedded_services._redis_answers(f"unix://{embedded_services.REDIS_SOCKET}")
        redis_url = embedded_services.start_redis()
    return Services(database_url, redis_url, started_postgres, started_redis)


def stop(services: Services) -> None:
    """Stop the embedded servers this run started; leave running the ones it found running."""
    if services.started_redis and embedded_services.REDIS_PIDFILE.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(embedded_services.REDIS_PIDFILE.read_text().strip()), signal.SIGTERM)
    if services.started_postgres and _embedded_postgres_running():
        from pgserver._commands import pg_ctl

        user = "pgserver" if os.geteuid() == 0 else None
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=embedded_services.PG_DIR, user=user)


def _embedded_postgres_running() -> bool:
    pidfile = embedded_services.PG_DIR / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
    except (ProcessLookupError, ValueError, IndexError):
        return False
    except PermissionError:  # runs as the pgserver user
        return True
    return True


def database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database name replaced (host, socket and credentials stay)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_database_name(suffix: str = "") -> str:
    return f"bench_{os.getpid()}{f'_{suffix}' if suffix else ''}"


def create_database(server_url: str, name: str, *, template: str | None = None) -> None:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(statement)


def drop_database(server_url: str, name: str) -> None:
    if not _BENCH_DB.match(name):  # never anything but a bench database
        raise ValueError(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_stale_databases(server_url: str) -> list[str]:
    """Drop bench databases whose run is gone (a crash or a kill -9 skips the normal clean-up)."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        names = [
            row[0] for row in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'")
        ]
    stale = [name for name in names if (m := _BENCH_DB.match(name)) and not _alive(int(m.group(1)))]
    for name in stale:
        drop_database(server_url, name)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
