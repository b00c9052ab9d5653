"""``python -m bench.micro [--profile DIR] [--n N]``: the per-request cost of the API in one process.

No sockets and no load generator: Django's test client drives the whole middleware stack and view
(``bench.settings``, the production profile) against a fresh bench database, one request after another,
so the figures are CPU per request and barely move with the machine's other load. ``/healthz`` is the
baseline, as in the HTTP phase; the ratio against it is what the HTTP targets are about.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import services

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="requests per endpoint and repeat")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--profile", type=Path, help="write a cProfile summary per endpoint here")
    parser.add_argument("--only", default="", help="comma-separated endpoint names")
    parser.add_argument("--out", type=Path, help="also write the figures (JSON) here")
    args = parser.parse_args(argv)
    found = services.start()
    name = services.bench_database_name("micro")
    services.drop_stale_databases(found.server_url)
    services.create_database(found.server_url, name)
    try:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "DATABASE_URL": services.database_url(found.server_url, name),
                "REDIS_URL": found.redis_url,
                "THROTTLE_KEY_PREFIX": f"micro-{os.getpid()}:",
                "THROTTLE_READ_BURST": "1000000000",
                "THROTTLE_READ_RATE": "1000000000",
                "THROTTLE_WRITE_BURST": "1000000000",
                "THROTTLE_WRITE_RATE": "1000000000",
                "CELERY_TASK_ALWAYS_EAGER": "0",
                **_secrets(),
            }
        )
        results = run(args)
        print(json.dumps(results, indent=2))
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
    finally:
        from django.db import connections

        connections.close_all()
        services.drop_database(found.server_url, name)
        services.stop(found)
    return 0


def _secrets() -> dict[str, str]:
    import base64
    import secrets

    from config.check_deploy import production_env

    names = [name for name in production_env() if name.endswith("_KEY")]
    return {name: base64.b64encode(secrets.token_bytes(32)).decode() for name in names}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", "--noinput", "-v", "0")
    fixtures = _fixtures(args.orders)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Token {fixtures['manager_token']}", "HTTP_ACCEPT": "application/json"}
    rng = random.Random(3)  # noqa: S311  # nosec B311  # a sample, not a secret
    ids = fixtures["order_ids"]
    endpoints: dict[str, Callable[[], Any]] = {
        "healthz": lambda: client.get("/healthz"),
        "detail": lambda: client.get(f"/api/orders/{rng.choice(ids)}/", **auth),
        "list20": lambda: client.get("/api/orders/?limit=20", **auth),
    }
    customer = {
        "HTTP_AUTHORIZATION": f"Token {fixtures['customer_tokens'][0]}",
        "HTTP_ACCEPT": "application/json",
    }
    body = {"lines": [{"sku": fixtures["skus"][0], "quantity": 1}]}
    endpoints["create"] = lambda: client.post(
        "/api/orders/",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        **customer,
    )
    if settings.ROOT_URLCONF == "bench.urls":  # the by-the-book peer (bench/peer.py)
        endpoints["peer_detail"] = lambda: client.get(f"/bench-peer/orders/{rng.choice(ids)}/", **auth)
    if args.only:
        endpoints = {k: v for k, v in endpoints.items() if k in args.only.split(",")}
    for call in endpoints.values():  # warm: imports, connections, caches
        for _ in range(50):
            response = call()
            assert response.status_code in (200, 201), response.content  # noqa: S101  # nosec B101
    results: dict[str, Any] = {}
    for label, call in endpoints.items():
        runs, cpu = [], []
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.n):
                call()
            runs.append((time.perf_counter() - started) / args.n * 1e6)
            cpu.append((time.process_time() - started_cpu) / args.n * 1e6)
        # The minimum is the least disturbed by other work on the machine; CPU is this process's alone.
        results[label] = {"us_median": statistics.median(runs), "us_min": min(runs), "cpu_us_min": min(cpu)}
        results[label].update(_counts(call, n=min(args.n, 200)))
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.n):
                call()
            profile.disable()
            with (args.profile / f"{label}.txt").open("w") as out:
                stats = pstats.Stats(profile, stream=out)
                stats.sort_stats("cumulative").print_stats(60)
                stats.sort_stats("tottime").print_stats(40)
    base = results.get("healthz", {}).get("us_median")
    if base:
        for figures in results.values():
            figures["x_healthz"] = figures["us_min"] / results["healthz"]["us_min"]
            figures["cpu_x_healthz"] = figures["cpu_us_min"] / results["healthz"]["cpu_us_min"]
    return results


def _counts(call: Callable[[], Any], *, n: int) -> dict[str, float]:
    """Per request, what does not move with the machine's load: Python function calls (cProfile's count),
    SQL statements and Redis commands sent."""
    import redis
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sent = [0]
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        return original(self, *args, **kwargs)

    redis.connection.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    profile = cProfile.Profile()
    try:
        with CaptureQueriesContext(connection) as queries:
            profile.enable()
            for _ in range(n):
                call()
            profile.disable()
    finally:
        redis.connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
    calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]  # set by Stats
    return {"py_calls": calls / n, "sql": len(queries) / n, "redis": sent[0] / n}


def _fixtures(orders: int) -> dict[str, Any]:
    from bench.phases import fixtures as seed
    from bench.phases.bus import journeys
    from projections import runner

    fixtures = seed.run({"customers": 4, "products": 20})
    work, _ = journeys(fixtures)(0)
    for _ in range(orders * 6):
        work()
    runner.catch_up_all()
    from projections.models import OrderSummary

    fixtures["order_ids"] = [str(pk) for pk in OrderSummary.objects.values_list("id", flat=True)]
    return fixtures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
