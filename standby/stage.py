"""Setting the stage for one round: primary, standby, Redis, the platform and the probe's users.

Every process is registered with the caller's ``ExitStack`` the moment it exists, so a failure at any
step still stops everything started before it.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from standby import platform, postgres
from standby.probe import Api
from standby.processes import Service, free_port, wait_until


@dataclass
class Stage:
    primary: postgres.Server
    standby: postgres.Server
    web_port: int = 0
    customer_token: str = ""
    manager_token: str = ""
    services: list[Service] = field(default_factory=list)

    @property
    def web(self) -> Service:
        return next(s for s in self.services if s.name == "web")

    def started(self, service: Service, stack: ExitStack) -> None:
        self.services.append(service)
        stack.callback(service.stop)


def new_stage(workdir: Path) -> Stage:
    pg = postgres.PgBin.discover()
    pg_root = pg.owned_dir(workdir / "pg")
    return Stage(
        primary=postgres.Server("primary", pg_root / "primary", free_port(), pg),
        standby=postgres.Server("standby", pg_root / "standby", free_port(), pg),
    )


def set_stage(stage: Stage, *, synchronous: bool, workdir: Path, stack: ExitStack) -> None:
    """Build and start everything, filling ``stage`` in as it goes (the caller reports from it)."""
    logs = workdir / "logs"
    primary, standby = stage.primary, stage.standby
    label = "synchronous" if synchronous else "asynchronous"

    say(f"{label}: initdb, primary on 127.0.0.1:{primary.port}")
    postgres.init_primary(primary)
    stage.started(primary.start(log_dir=logs, settings={}), stack)
    primary.query(f"CREATE DATABASE {platform.DATABASE_NAME}")

    say(f"{label}: pg_basebackup -R, standby on 127.0.0.1:{standby.port}")
    postgres.clone_standby(primary, standby)
    stage.started(standby.start(log_dir=logs, settings=postgres.STANDBY_SETTINGS), stack)
    postgres.require_synchronous_standby(primary, synchronous=synchronous)

    redis, redis_url = platform.start_redis(workdir, log_dir=logs)
    stage.started(redis, stack)
    queue = f"standby-drill-{uuid.uuid4().hex[:8]}"
    url = platform.database_url([primary.port, standby.port])
    env = platform.PlatformEnv.build(database_url=url, redis_url=redis_url, queue=queue)
    say(f"{label}: migrate through {url}")
    platform.manage(env, "migrate", "--noinput")

    stage.web_port = free_port()
    stage.started(platform.start_web(env, port=stage.web_port, log_dir=logs), stack)
    stage.started(platform.start_worker(env, queue=queue, workdir=workdir, log_dir=logs), stack)
    stage.customer_token = _user_token(env, "customer", stage.web_port)
    stage.manager_token = _user_token(env, "manager", stage.web_port)


def _user_token(env: platform.PlatformEnv, role: str, web_port: int) -> str:
    """A probe user made with ``manage.py create_user``, and its API token."""
    username, password = f"drill-{role}", secrets.token_urlsafe(24)
    platform.manage(env, "create_user", username, "--role", role, extra={"USER_PASSWORD": password})
    api = Api(web_port)
    wait_until(lambda: _healthy(api), timeout=60, what="the web server to answer /healthz")
    return api.login(username, password)


def _healthy(api: Api) -> bool:
    with contextlib.suppress(OSError):
        return api.call("GET", "/healthz").status == 200
    return False


def say(message: str) -> None:
    print(f"[standby-drill] {message}", file=sys.stderr, flush=True)
