"""Locust users for ``make bench`` (run headless by ``bench/http.py``, one user class per run).

Closed loop, no think time: each simulated client sends its next request as soon as the last one was
answered, so N users are N concurrent clients. The bench user's throttle is raised through the
THROTTLE_* variables of the node, not bypassed: every API request still runs the Redis token bucket.

``BENCH_FIXTURES`` names a JSON file with tokens, skus and readable order ids (written by the bench).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, task

FIXTURES: dict[str, Any] = json.loads(Path(os.environ["BENCH_FIXTURES"]).read_text())
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}
_customer_numbers = itertools.count()
rng = random.Random(42)  # noqa: S311  # nosec B311  # workload, not secrets


class BenchUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    token = ""  # nosec B105  # set per user class from the fixtures

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}", "Accept": "application/json", **extra}


class HealthUser(FastHttpUser):
    """The framework baseline: a Django view with the whole middleware stack and no database."""

    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="GET /healthz")


class DetailUser(BenchUser):
    """``GET /api/orders/{id}/`` of random orders, as a manager (sees every order and its notes)."""

    token = FIXTURES["manager_token"]

    @task
    def detail(self) -> None:
        order_id = rng.choice(FIXTURES["order_ids"])
        self.client.get(f"/api/orders/{order_id}/", headers=self.headers(), name="GET /api/orders/{id}/")


class PeerDetailUser(BenchUser):
    """The same read from the by-the-book DRF endpoint (bench/peer.py), as the same manager."""

    token = FIXTURES["manager_token"]

    @task
    def detail(self) -> None:
        order_id = rng.choice(FIXTURES["order_ids"])
        self.client.get(f"/bench-peer/orders/{order_id}/", headers=self.headers(), name="GET peer detail")


class ListUser(BenchUser):
    """``GET /api/orders/?limit=20``: the newest page of the read model, as a manager."""

    token = FIXTURES["manager_token"]

    @task
    def list(self) -> None:
        self.client.get("/api/orders/?limit=20", headers=self.headers(), name="GET /api/orders/")


class WriteUser(BenchUser):
    """A customer creates an order (one line and an address), adds a line and places it: three command
    requests, each with its own Idempotency-Key, as a careful client sends them."""

    def on_start(self) -> None:
        tokens = FIXTURES["customer_tokens"]
        self.token = tokens[next(_customer_numbers) % len(tokens)]

    def post(self, path: str, body: dict[str, Any], name: str) -> Any:
        headers = self.headers(**{"Idempotency-Key": uuid.uuid4().hex})
        return self.client.post(path, json=body, headers=headers, name=name)

    @task
    def order(self) -> None:
        skus = FIXTURES["skus"]
        created = self.post(
            "/api/orders/",
            {"lines": [{"sku": rng.choice(skus), "quantity": 1}], "shipping_address": ADDRESS},
            "POST /api/orders/",
        )
        if created.status_code != 201:
            return
        order_id = created.json()["id"]
        self.post(f"/api/orders/{order_id}/lines/", {"sku": rng.choice(skus), "quantity": 2}, "POST lines")
        self.post(f"/api/orders/{order_id}/place/", {}, "POST place")
