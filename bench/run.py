"""``python -m bench [--quick] [--wait-quiet MINUTES]``: run every phase, write ``bench/results/``.

Order: databases (a fresh ``bench_<pid>``, migrated, and three copies of it made before anything is
written) → appends in the first copy → users and products → the command bus → the node (gunicorn,
Celery worker, beat) → HTTP with Locust → projection lag → memory → node stopped → rebuild in the second
copy → webhooks (fan-out, sender and receiver processes) in the third. Whatever happens, the node is
stopped, the bench databases are dropped, and embedded servers this run started are stopped again.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import secrets
import subprocess  # nosec B404  # runs the phases and manage.py, fixed argument lists
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import crowd as crowd_load
from bench import profiling, report, services
from bench.http import SCENARIOS, run_locust
from bench.node import Node

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HIGH = "1000000"
PROFILES: dict[
    str, Path
] = {}  # "dir" when --profile is given  # throttle burst and rate for the bench: raised, not switched off


@dataclass(frozen=True)
class Sizes:
    append_seconds: float = 4.0
    append_threads: tuple[int, ...] = (1, 4, 16)
    batched_seconds: float = 3.0
    batched_threads: tuple[int, ...] = (1, 4)
    bus_seconds: float = 8.0
    http_seconds: float = 10.0
    http_clients: tuple[int, ...] = (1, 8, 32)
    lag_rate: float = 300.0
    lag_seconds: float = 20.0
    rebuild_events: int = 100_000
    seed_users: tuple[int, ...] = (1_000, 2_500, 5_000, 10_000, 15_000)
    seed_seconds: float = 60.0
    seed_spawn_rate: float = 500.0
    seed_think_s: float = 20.0
    webhook_rate: float = 200.0
    webhook_seconds: float = 20.0
    webhook_events: int = 2_500  # to each of 4 endpoints
    webhook_slow_rate: float = 50.0
    webhook_slow_seconds: float = 20.0


QUICK = Sizes(
    append_seconds=1.0,
    batched_seconds=1.0,
    bus_seconds=2.0,
    http_seconds=3.0,
    lag_rate=100.0,
    lag_seconds=3.0,
    rebuild_events=5_000,
    seed_users=(500, 2_000),
    seed_seconds=15.0,
    webhook_seconds=5.0,
    webhook_events=500,
    webhook_slow_seconds=5.0,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for trying the harness out")
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated phases to run (default: all of {PHASES})"
    )
    parser.add_argument("--profile", action="store_true", help="sample every measured process with py-spy")
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="MINUTES", help="first wait for load average < 0.5"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    quiet = wait_until_quiet(args.wait_quiet) if args.wait_quiet else None
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    scratch = RESULTS / "scratch" / stamp
    scratch.mkdir(parents=True, exist_ok=True)
    if args.profile:
        PROFILES["dir"] = scratch / "profiles"
        PROFILES["dir"].mkdir()
    results: dict[str, Any] = {"environment": environment(sizes, quick=args.quick, quiet=quiet)}
    started = time.monotonic()
    only = frozenset(args.only.split(","))
    if not only <= set(PHASES):
        parser.error(f"--only takes some of {', '.join(PHASES)}")
    run_all(sizes, scratch, results, only=only)
    results["environment"]["seconds"] = time.monotonic() - started
    results["environment"]["loadavg_after"] = os.getloadavg()
    paths = report.write(results, RESULTS, stamp)
    print(paths["md"].read_text())
    print(f"written: {', '.join(str(p.relative_to(ROOT)) for p in paths.values())}")
    return 0


# memory is read when the node stops; "seed" is the seed's 10,000-user table (bench/crowd.py);
# "webhooks" is the fan-out, a sender and a receiver as processes of their own (bench/phases/webhooks.py)
PHASES = ("append", "bus", "http", "lag", "seed", "rebuild", "webhooks")
# Webhook receivers on loopback, reached over HTTP, and the dedicated webhook processes instead of Celery.
WEBHOOK_ENV = {
    "SUBSCRIPTION_ALLOWED_NETWORKS": "127.0.0.0/8",
    "SUBSCRIPTION_REQUIRE_HTTPS": "false",
    "SUBSCRIPTION_CELERY_RUN": "false",
    "SUBSCRIPTION_NUDGE_ON_COMMIT": "false",
}


def run_all(sizes: Sizes, scratch: Path, results: dict[str, Any], *, only: frozenset[str]) -> None:
    found = services.start()
    names = ("", "append", "rebuild", "webhooks")
    main_db, append_db, rebuild_db, webhooks_db = (services.bench_database_name(s) for s in names)
    node: Node | None = None
    try:
        services.drop_stale_databases(found.server_url)
        services.create_database(found.server_url, main_db)
        env = node_env(found, main_db, scratch)
        _run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
        for copy in (append_db, rebuild_db, webhooks_db):  # copies of the migrated, still empty database
            services.create_database(found.server_url, copy, template=main_db)

        if "append" in only:
            step("append")
            params = {"seconds": sizes.append_seconds, "threads": sizes.append_threads}
            params |= {"batched_seconds": sizes.batched_seconds, "batched_threads": sizes.batched_threads}
            append_env = node_env(found, append_db, scratch)
            guarded(results, "append", lambda: phase("append", append_env, scratch, **params))
        services.drop_database(found.server_url, append_db)

        fixtures: dict[str, Any] = {}
        if only & {"bus", "http", "lag", "seed"}:
            fixtures = phase("fixtures", env, scratch)
        if only & {"bus", "http", "lag"}:
            step("command bus")  # also the orders the HTTP reads read
            bus = {"fixtures": fixtures, "seconds": sizes.bus_seconds if "bus" in only else 2.0}
            guarded(results, "bus", lambda: phase("bus", env, scratch, **bus))
            if "bus" not in only:
                results.pop("bus", None)
        if only & {"http", "lag"}:
            step("node")
            purge_nudges(env)
            node = Node(env=env, scratch=scratch)
            node.start()
            _node_phases(node, sizes, scratch, results, env=env, fixtures=fixtures, only=only)
            results["memory"] = node.memory()
            node.stop()
            node = None

        if "seed" in only:
            step("seed table: people with think time")
            guarded(results, "seed", lambda: seed_table(found, main_db, sizes, scratch, fixtures))

        if "rebuild" in only:
            step("rebuild")
            rebuild_env = node_env(found, rebuild_db, scratch)
            events = sizes.rebuild_events
            guarded(results, "rebuild", lambda: phase("rebuild", rebuild_env, scratch, events=events))

        if "webhooks" in only:  # after the node has stopped: its worker would compete for the CPU
            step("webhooks")
            hooks_env = {**node_env(found, webhooks_db, scratch), **WEBHOOK_ENV}
            hooks = {
                "rate": sizes.webhook_rate,
                "seconds": sizes.webhook_seconds,
                "events": sizes.webhook_events,
                "slow_rate": sizes.webhook_slow_rate,
                "slow_seconds": sizes.webhook_slow_seconds,
            }
            guarded(results, "webhooks", lambda: phase("webhooks", hooks_env, scratch, **hooks))
    finally:
        if node is not None:
            node.stop()
        for name in (main_db, append_db, rebuild_db, webhooks_db):
            try:
                services.drop_database(found.server_url, name)
            except Exception as exc:  # the others must still be dropped
                print(f"could not drop {name}: {exc}", file=sys.stderr)
        services.stop(found)
        (scratch / ".secrets.json").unlink(missing_ok=True)  # throwaway keys of databases now gone


def _node_phases(
    node: Node,
    sizes: Sizes,
    scratch: Path,
    results: dict[str, Any],
    *,
    env: dict[str, str],
    fixtures: dict[str, Any],
    only: frozenset[str],
) -> None:
    if "http" in only:
        readable = phase("settle", env, scratch)
        fixtures_path = scratch / "fixtures.json"
        fixtures_path.write_text(json.dumps({**fixtures, "order_ids": readable["order_ids"]}))
        step("http")
        guarded(results, "http", lambda: http(node, sizes, scratch, fixtures_path))
    if "lag" in only:
        step("projection lag")
        phase("settle", env, scratch)  # start from a read side that has caught up
        purge_nudges(env)
        lag = {"fixtures": fixtures, "rate": sizes.lag_rate, "seconds": sizes.lag_seconds}
        with profiled(node.processes["worker"].pid, "celery-worker-lag"):
            guarded(results, "lag", lambda: phase("lag", env, scratch, **lag))


def seed_table(
    found: services.Services, database: str, sizes: Sizes, scratch: Path, fixtures: dict[str, Any]
) -> dict[str, Any]:
    """The seed's table: users with tokens, then stepped Locust runs against a node of its own (with the
    production throttle policies: the raised ones of the closed-loop phases are not set)."""
    env = {
        key: value
        for key, value in node_env(found, database, scratch).items()
        if not key.startswith("THROTTLE_") or key == "THROTTLE_KEY_PREFIX"
    }
    crowd = phase("crowd", env, scratch, users=max(sizes.seed_users))
    readable = phase("settle", env, scratch, wait=False)  # orders already in the read model, if any
    path = scratch / "crowd-fixtures.json"
    path.write_text(json.dumps({**fixtures, **crowd, "order_ids": readable["order_ids"]}))
    purge_nudges(env)
    return crowd_load.run(
        env=env,
        scratch=scratch,
        fixtures=path,
        steps=sizes.seed_users,
        seconds=sizes.seed_seconds,
        spawn_rate=sizes.seed_spawn_rate,
        think_s=sizes.seed_think_s,
    )


def profiled(pid: int, name: str, *, when: bool = True) -> contextlib.AbstractContextManager[None]:
    if "dir" not in PROFILES or not when:
        return contextlib.nullcontext()
    return profiling.attached(pid, PROFILES["dir"] / f"{name}.txt")


def guarded(results: dict[str, Any], key: str, measure: Callable[[], dict[str, Any]]) -> None:
    """Run one measurement; if it fails, say so in the results and go on with the next."""
    try:
        results[key] = measure()
    except Exception as exc:
        results.setdefault("errors", {})[key] = f"{type(exc).__name__}: {exc}"
        print(f"  {key} failed: {exc}", file=sys.stderr)


def http(node: Node, sizes: Sizes, scratch: Path, fixtures: Path) -> dict[str, Any]:
    warm = scratch / "warm-up"
    warm.mkdir(exist_ok=True)
    for scenario in ("read_detail", "peer_detail", "write"):  # imports, connections, caches of both workers
        run_locust(url=node.url, scenario=scenario, users=8, seconds=3, scratch=warm, fixtures=fixtures)
    results: dict[str, Any] = {}
    for scenario in SCENARIOS:
        results[scenario] = {}
        for users in sizes.http_clients:
            print(f"  {scenario} x{users}", flush=True)
            with profiled(
                node.processes["web"].pid, f"web-{scenario}-{users}", when=users == max(sizes.http_clients)
            ):
                results[scenario][str(users)] = run_locust(
                    url=node.url,
                    scenario=scenario,
                    users=users,
                    seconds=sizes.http_seconds,
                    scratch=scratch,
                    fixtures=fixtures,
                )
    return results


def purge_nudges(env: dict[str, str]) -> None:
    """Drop the projection nudges queued so far (the bench's own queue). One catch-up covers them all, but
    a worker draining thousands of them (queued while the bus phase ran without a worker) would compete
    with the HTTP runs for the CPU; beat catches the projections up anyway."""
    celery = str(Path(sys.executable).parent / "celery")
    _run([celery, "-A", "config", "purge", "-f", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"]], env=env)


def node_env(found: services.Services, database: str, scratch: Path) -> dict[str, str]:
    """Environment of every bench process: production settings, the bench's database, queue and keys."""
    metrics = scratch / "prometheus"
    metrics.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": services.database_url(found.server_url, database),
        "REDIS_URL": found.redis_url,
        **_throwaway_secrets(scratch),
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-{os.getpid()}",
        "THROTTLE_KEY_PREFIX": f"bench-{os.getpid()}:",
        "THROTTLE_READ_BURST": HIGH,
        "THROTTLE_READ_RATE": HIGH,
        "THROTTLE_WRITE_BURST": HIGH,
        "THROTTLE_WRITE_RATE": HIGH,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "PYTHONUNBUFFERED": "1",
    }


def _throwaway_secrets(scratch: Path) -> dict[str, str]:
    """Fresh keys for every secret the production profile insists on, the same for all bench processes.
    The names come from config/check_deploy.py when it exists (it knows the current list)."""
    path = scratch / ".secrets.json"
    if not path.exists():
        names = ["SECRET_KEY", "BACKUP_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY"]
        try:
            from config.check_deploy import production_env

            names = [name for name in production_env() if name.endswith("_KEY")]
        except ImportError:
            pass
        keys = {name: base64.b64encode(secrets.token_bytes(32)).decode() for name in names}
        path.write_text(json.dumps(keys))
        path.chmod(0o600)
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def phase(name: str, env: dict[str, str], scratch: Path, **params: Any) -> dict[str, Any]:
    out = scratch / f"{name}.json"
    command = [sys.executable, "-m", "bench.phases", name, "--params", json.dumps(params), "--out", str(out)]
    if "dir" in PROFILES and name in ("append", "bus", "lag", "rebuild"):
        command = profiling.wrap(command, PROFILES["dir"] / f"{name}.txt")
    _run(command, env=env)
    if "dir" in PROFILES:
        profiling.summarize(PROFILES["dir"] / f"{name}.txt")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _run(command: list[str], *, env: dict[str, str], timeout: float = 1200) -> None:
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=timeout)  # nosec B603  # fixed list


def step(name: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {name}", flush=True)  # local time, for people


def wait_until_quiet(minutes: float, threshold: float = 0.5) -> dict[str, Any]:
    """Other work on the machine skews every figure: wait (up to ``minutes``) for a quiet minute."""
    deadline = time.monotonic() + minutes * 60
    waited = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        time.sleep(15)
    load = os.getloadavg()[0]
    quiet = load < threshold
    if not quiet:
        print(f"warning: the machine never got quiet (load {load:.2f}); measuring anyway", file=sys.stderr)
    return {"quiet": quiet, "waited_s": time.monotonic() - waited, "load": load}


def environment(sizes: Sizes, *, quick: bool, quiet: dict[str, Any] | None) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)  # noqa: S607  # nosec
        return done.stdout.strip()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "quiet": quiet,
        "quick": quick,
        "sizes": asdict(sizes),
    }
