"""Two complete sites on loopback for the multi-site drill and its test: per site a PostgreSQL primary
(``wal_level = logical``), a Redis, and — when asked — a web server and a Celery worker with beat.

Built from the pilot-light drill's pieces (``standby.postgres``, ``standby.platform``,
``standby.processes``): the same servers, process groups and clean-up, another topology. Every process
is registered with the caller's ``ExitStack`` the moment it exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standby import platform, postgres
from standby.probe import Api
from standby.processes import DrillError, Service, free_port, wait_until

SITE_NAMES = ("a", "b")
# Logical replication on top of what the pilot-light servers set: a publication, a slot and an apply
# worker each way, and a bound on the WAL a lost site's slot may hold back on the survivor's disk.
LOGICAL_SETTINGS: dict[str, str] = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "max_logical_replication_workers": "4",
    "max_slot_wal_keep_size": "1GB",
    "wal_sender_timeout": "10s",
    "wal_receiver_timeout": "10s",
}


@dataclass
class Site:
    name: str
    server: postgres.Server
    workdir: Path
    env: platform.PlatformEnv | None = None
    web_port: int = 0
    services: list[Service] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    stalled: list[int] = field(default_factory=list)  # backends stopped with SIGSTOP by the drill

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def dsn(self) -> str:
        return self.server.conninfo(platform.DATABASE_NAME)

    def manage(self, *args: str, extra: dict[str, str] | None = None, timeout: float = 180) -> str:
        return platform.manage(self.environment(), *args, extra=extra, timeout=timeout)

    def environment(self) -> platform.PlatformEnv:
        if self.env is None:
            raise DrillError(f"site {self.name} has no environment yet (start its database first)")
        return self.env

    def manage_json(self, *args: str) -> Any:
        return json.loads(self.manage(*args).strip().splitlines()[-1])

    def started(self, service: Service, stack: ExitStack) -> Service:
        self.services.append(service)
        stack.callback(service.stop)
        return service

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        return self.server.query(sql, params, dbname=platform.DATABASE_NAME)

    def kill(self) -> None:
        """The whole site at once, as a lost region: database, web, worker, Redis — SIGKILL, no shutdown."""
        self.server.kill()
        for service in self.services:
            service.kill()
        # Backends are session leaders of their own: the group kill misses them, and a stopped one never
        # notices its postmaster died. End it, or it keeps the data directory's shared memory.
        for pid in self.stalled:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def new_sites(workdir: Path) -> tuple[Site, Site]:
    pg = postgres.PgBin.discover()
    pg_root = pg.owned_dir(workdir / "pg")
    a, b = (
        Site(name, postgres.Server(f"postgres-{name}", pg_root / name, free_port(), pg), workdir / name)
        for name in SITE_NAMES
    )
    return a, b


def site_env(site: Site, peer: Site, *, redis_url: str, queue: str) -> platform.PlatformEnv:
    base = platform.PlatformEnv.build(
        database_url=f"postgresql://postgres@127.0.0.1:{site.server.port}/{platform.DATABASE_NAME}?connect_timeout=2",
        redis_url=redis_url,
        queue=queue,
    )
    return platform.PlatformEnv(
        {
            **base.variables,
            "SITES": ",".join(SITE_NAMES),
            "SITE_NAME": site.name,
            "MULTISITE_PEER_DSN": peer.dsn(),
            "SITE_URLS": f"{peer.name}=http://127.0.0.1:{peer.web_port}" if peer.web_port else "",
        }
    )


def start_database(site: Site, peer: Site, *, stack: ExitStack, fresh: bool = True) -> None:
    """initdb (unless ``fresh`` is false: the data directory exists), start, create the database, a
    private Redis and the site's environment; migrate."""
    logs = site.workdir / "logs"
    if fresh:
        postgres.init_primary(site.server)
    site.started(site.server.start(log_dir=logs, settings=LOGICAL_SETTINGS), stack)
    if fresh:
        site.server.query(f"CREATE DATABASE {platform.DATABASE_NAME}")
    site.workdir.mkdir(parents=True, exist_ok=True)
    redis, redis_url = platform.start_redis(site.workdir, log_dir=logs)
    site.started(redis, stack)
    site.env = site_env(
        site, peer, redis_url=redis_url, queue=f"multisite-{site.name}-{uuid.uuid4().hex[:6]}"
    )
    site.manage("migrate", "--noinput")


def publish(site: Site) -> Any:
    return site.manage_json("multisite_setup")


def subscribe(site: Site, *, copy_data: bool) -> Any:
    args = ["multisite_setup", "--subscribe"]
    args += ["--copy-data"] if copy_data else []
    return site.manage_json(*args)


def wait_subscribed(site: Site, *, timeout: float = 60) -> None:
    """The apply worker runs and the initial copy of every table is done (state 'r'eady)."""

    def ready() -> bool:
        rows = site.query(
            "SELECT count(*) FILTER (WHERE srsubstate <> 'r'), "
            "(SELECT count(*) FROM pg_stat_subscription WHERE relid IS NULL AND pid IS NOT NULL) "
            "FROM pg_subscription_rel"
        )
        return bool(rows and rows[0][0] == 0 and rows[0][1] == 1)

    wait_until(ready, timeout=timeout, what=f"site {site.name}'s subscription to be ready")


def start_platform(site: Site, *, stack: ExitStack) -> None:
    env, logs = site.environment(), site.workdir / "logs"
    site.web_port = site.web_port or free_port()
    queue = env.variables["CELERY_TASK_DEFAULT_QUEUE"]
    site.started(platform.start_web(env, port=site.web_port, log_dir=logs), stack)
    site.started(platform.start_worker(env, queue=queue, workdir=site.workdir, log_dir=logs), stack)
    wait_until(lambda: _healthy(Api(site.web_port)), timeout=60, what=f"site {site.name}'s web server")


def create_user(site: Site, username: str, role: str) -> str:
    """A user made at ``site`` (so homed there), and its password."""
    password = secrets.token_urlsafe(24)
    site.manage("create_user", username, "--role", role, extra={"USER_PASSWORD": password})
    return password


def _healthy(api: Api) -> bool:
    try:
        return api.call("GET", "/healthz").status == 200
    except OSError:
        return False


def say(message: str) -> None:
    print(f"[multisite-drill] {message}", file=sys.stderr, flush=True)
