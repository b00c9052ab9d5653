"""A primary and a streaming-replication standby, built with PostgreSQL's own tools on loopback ports.

The binaries are those of the embedded ``pgserver`` package unless ``STANDBY_PG_BIN`` names another
directory (a system installation, e.g. ``/usr/lib/postgresql/16/bin``). PostgreSQL refuses to run as
root, so as root every server command runs as the ``pgserver`` system user (``STANDBY_PG_USER``), as
the embedded server does.

Role-specific settings go on the ``postgres`` command line, never into the data directory's config
files: ``pg_basebackup`` copies those files, and a standby that inherited the primary's
``synchronous_standby_names`` would, once promoted, wait forever for a standby it does not have.
"""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from standby.processes import DrillError, Service, run, start_service, wait_until

SUPERUSER = "postgres"
STANDBY_NAME = "standby1"  # application_name in primary_conninfo, matched by synchronous_standby_names

# Both roles: TCP on loopback only (no unix socket to place or clean up), replication-ready.
COMMON_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "max_replication_slots": "5",
    "hot_standby": "on",
    "synchronous_commit": "on",
    # The standby reports its flush/replay position every second, so the lag the drill reads is fresh.
    "wal_receiver_status_interval": "1s",
    "log_min_messages": "warning",
}

STANDBY_SETTINGS: dict[str, str] = {
    # Once promoted, this server has no standby of its own: it must not wait for one.
    "synchronous_standby_names": "",
    # PostgreSQL 16 sometimes acts on pg_promote() only when the startup process's current wait for
    # WAL ends; that wait is this interval (default 5 s), so it bounds the promotion delay.
    "wal_retrieve_retry_interval": "1s",
}


@dataclass(frozen=True)
class PgBin:
    """Where the PostgreSQL programs are and which system user runs them."""

    directory: Path
    user: str | None

    @classmethod
    def discover(cls) -> PgBin:
        configured = os.environ.get("STANDBY_PG_BIN")
        user = os.environ.get("STANDBY_PG_USER", "pgserver") if os.geteuid() == 0 else None
        if configured:
            return cls(Path(configured), user)
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR; we use no runtime dir
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH

        if user is not None:
            _open_to(user, POSTGRES_BIN_PATH)
        return cls(POSTGRES_BIN_PATH, user)

    def program(self, name: str) -> str:
        path = self.directory / name
        if not path.exists():
            raise DrillError(f"{path} not found: set STANDBY_PG_BIN to a PostgreSQL bin directory")
        return str(path)

    def owned_dir(self, path: Path) -> Path:
        """Create ``path`` (mode 0700) owned by the server's user, who must be able to reach it."""
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.user is not None:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return path


def _open_to(user: str, bin_dir: Path) -> None:
    """As root: make sure ``user`` exists and may run pgserver's binaries (what pgserver itself does)."""
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(user)
    ensure_prefix_permissions(bin_dir)
    read, execute = 0o044, 0o011
    ensure_folder_permissions(bin_dir, read | execute)
    ensure_folder_permissions(bin_dir.parent / "lib", read)


@dataclass
class Server:
    """One PostgreSQL server: its data directory, port and (once started) its process group."""

    name: str
    datadir: Path
    port: int
    pg: PgBin
    service: Service | None = None

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname} connect_timeout=3"

    def start(self, *, log_dir: Path, settings: Mapping[str, str]) -> Service:
        options = [f"-c{name}={value}" for name, value in {**COMMON_SETTINGS, **settings}.items()]
        argv = [self.pg.program("postgres"), "-D", str(self.datadir), "-p", str(self.port), *options]
        self.service = start_service(self.name, argv, log_dir=log_dir, user=self.pg.user)
        with self.service.stopped_on_error():
            wait_until(
                self._accepts_connections, timeout=30, what=f"PostgreSQL {self.name} to accept connections"
            )
        return self.service

    def _accepts_connections(self) -> bool:
        if self.service is not None and not self.service.alive():
            raise DrillError(f"PostgreSQL {self.name} exited:\n{self.service.log_tail()}")
        try:
            with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def query(
        self, sql: str, params: Sequence[Any] = (), *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def kill(self) -> None:
        if self.service is not None:
            self.service.kill()

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit)."""
        if self.service is not None:
            self.service.stop(sig=signal.SIGINT, timeout=15)

    def promote(self) -> None:
        ((promoted,),) = self.query("SELECT pg_promote(wait => true, wait_seconds => 30)")
        if not promoted:
            raise DrillError(f"pg_promote() did not finish on {self.name}:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.service.log_tail() if self.service is not None else ""


def init_primary(server: Server) -> None:
    """initdb with trust authentication: the cluster listens on 127.0.0.1 only and lives for one drill."""
    server.pg.owned_dir(server.datadir)
    argv = [server.pg.program("initdb"), "-D", str(server.datadir), "-U", SUPERUSER]
    argv += ["--auth=trust", "--encoding=UTF8", "--no-sync"]
    run(argv, what="initdb", timeout=120, user=server.pg.user)


def clone_standby(primary: Server, standby: Server) -> None:
    """``pg_basebackup -R``: copy the primary and write standby.signal plus a primary_conninfo that
    carries ``application_name=standby1``; ``-C -S`` creates a replication slot, so the primary keeps
    the WAL the standby has not received yet instead of recycling it."""
    conninfo = f"host=127.0.0.1 port={primary.port} user={SUPERUSER} application_name={STANDBY_NAME}"
    argv = [standby.pg.program("pg_basebackup"), "-d", conninfo, "-D", str(standby.datadir)]
    argv += ["-R", "-X", "stream", "--checkpoint=fast", "-C", "-S", STANDBY_NAME, "--no-sync"]
    run(argv, what="pg_basebackup", timeout=120, user=standby.pg.user)


def replication_state(primary: Server) -> dict[str, Any] | None:
    """What the primary knows of the standby: state, sync state, lag in bytes and in time."""
    rows = primary.query(
        """
        SELECT state, sync_state,
               pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint,
               pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint,
               pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
               extract(epoch FROM write_lag)::float8 * 1000,
               extract(epoch FROM flush_lag)::float8 * 1000,
               extract(epoch FROM replay_lag)::float8 * 1000
        FROM pg_stat_replication WHERE application_name = %s
        """,
        [STANDBY_NAME],
    )
    if not rows:
        return None
    state, sync_state, *numbers = rows[0]
    keys = ("bytes_not_sent", "bytes_not_flushed", "bytes_not_replayed", "write_lag_ms", "flush_lag_ms")
    values = dict(zip((*keys, "replay_lag_ms"), numbers, strict=True))
    return {"state": state, "sync_state": sync_state, **values}


def require_synchronous_standby(primary: Server, *, synchronous: bool) -> None:
    """Turn synchronous replication on (or leave it off) once the standby streams, then check it took.

    Set with ALTER SYSTEM after the base backup on purpose: before, the standby would copy it, and a
    synchronous primary without its standby would block every commit (CREATE DATABASE included).
    """
    names = STANDBY_NAME if synchronous else ""
    # ALTER SYSTEM takes no bind parameters; names is one of two constants.
    primary.query(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
    primary.query("SELECT pg_reload_conf()")
    expected = "sync" if synchronous else "async"

    def streaming() -> bool:
        state = replication_state(primary)
        return state is not None and state["state"] == "streaming" and state["sync_state"] == expected

    wait_until(streaming, timeout=30, what=f"the standby to stream ({expected})")


def stall_wal_sender(primary: Server) -> None:
    """SIGSTOP the primary's WAL sender: commits go on (asynchronous), nothing reaches the standby.

    The sender, not the standby's receiver: WAL the sender never wrote to its socket is certainly lost
    with the primary, whereas bytes already in a loopback socket buffer could still arrive afterwards.
    The kill of the primary's process group ends the stopped sender with the rest.
    """
    rows = primary.query("SELECT pid FROM pg_stat_replication WHERE application_name = %s", [STANDBY_NAME])
    if not rows:
        raise DrillError("no WAL sender for the standby to stall")
    os.kill(rows[0][0], signal.SIGSTOP)
