"""Locust users of the seed-table load (``make bench BENCH_ARGS="--only seed"``): shoppers and staff
with think time, each with a token of their own, about 80 % reads and 20 % commands.

A user thinks between requests for an exponentially distributed time (mean ``CROWD_THINK_S``, 20 s), so
N users are N people, not N connections hammering the server. Each keeps its HTTP connection open
between requests, as a browser or an app does; when the server closes an idle one (gunicorn's
keep-alive), the next request opens a new one.

- A shopper reads their orders (detail, list) and the products, and takes orders through create →
  add line → place, one command per turn. A placed order goes to the staff's queue.
- Staff read any order and the newest orders, and take placed orders through pay → ship → deliver.

``BENCH_FIXTURES`` is the JSON the orchestrator writes: tokens, skus, order ids.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, task

FIXTURES: dict[str, Any] = json.loads(Path(os.environ["BENCH_FIXTURES"]).read_text())
THINK_S = float(os.environ.get("CROWD_THINK_S", "20"))
CONSISTENCY_HEADER = "X-Consistency-Token"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}
rng = random.Random(7)  # noqa: S311  # nosec B311  # workload, not secrets
_customers = itertools.count()
_staff = itertools.count()
# Placed orders waiting for staff: (order id, total as the API writes it, lines). One Locust process.
PLACED: collections.deque[tuple[str, str, list[dict[str, Any]]]] = collections.deque(maxlen=50_000)
KNOWN: list[str] = list(FIXTURES.get("order_ids", []))  # orders anyone on the staff may read


class Person(FastHttpUser):
    abstract = True
    token = ""  # nosec B105  # set in on_start from the fixtures
    consistency = ""  # the X-Consistency-Token of this person's last command

    def wait_time(self) -> float:
        return rng.expovariate(1 / THINK_S)

    def arrive(self) -> None:
        # People do not all click at the moment they are counted: the first request comes after a think
        # time too (exponential, so arrivals are as spread as later requests), not in one burst.
        time.sleep(self.wait_time())

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}", "Accept": "application/json", **extra}

    def get(self, path: str, name: str) -> Any:
        # Read-your-writes as the API guide tells a client: send the token of this person's last command,
        # so a read never answers from before it (without it, an order just created may be a 404).
        extra = {CONSISTENCY_HEADER: self.consistency} if self.consistency else {}
        return self.client.get(path, headers=self.headers(**extra), name=name)

    def post(self, path: str, body: dict[str, Any], name: str) -> Any:
        headers = self.headers(**{"Idempotency-Key": uuid.uuid4().hex})
        answer = self.client.post(path, json=body, headers=headers, name=name)
        self.consistency = answer.headers.get(CONSISTENCY_HEADER) or self.consistency
        return answer

    @task(1)
    def products(self) -> None:
        self.get("/api/products/", "GET /api/products/")


class Shopper(Person):
    weight = 19

    def on_start(self) -> None:
        tokens = FIXTURES["customer_tokens"]
        self.token = tokens[next(_customers) % len(tokens)]
        self.arrive()
        self.orders: list[str] = []
        self.draft: str | None = None
        self.step = 0

    @task(4)
    def my_order(self) -> None:
        if not self.orders:
            self.my_orders()
            return
        self.get(f"/api/orders/{rng.choice(self.orders)}/", "GET /api/orders/{id}/")

    @task(3)
    def my_orders(self) -> None:
        self.get("/api/orders/?limit=20", "GET /api/orders/")

    @task(2)
    def command(self) -> None:
        skus = FIXTURES["skus"]
        if self.draft is None:
            body = {"lines": [{"sku": rng.choice(skus), "quantity": 1}], "shipping_address": ADDRESS}
            created = self.post("/api/orders/", body, "POST /api/orders/")
            if created.status_code == 201:
                self.draft = created.json()["id"]
                self.orders.append(self.draft)
            return
        if self.step == 0:
            line = {"sku": rng.choice(skus), "quantity": 2}
            if self.post(f"/api/orders/{self.draft}/lines/", line, "POST lines").status_code == 200:
                self.step = 1
            return
        placed = self.post(f"/api/orders/{self.draft}/place/", {}, "POST place")
        if placed.status_code == 200:
            order = placed.json()
            PLACED.append((order["id"], order["total"], order["lines"]))
        self.draft, self.step = None, 0


class Staff(Person):
    weight = 1

    def on_start(self) -> None:
        tokens = FIXTURES["staff_tokens"]
        self.token = tokens[next(_staff) % len(tokens)]
        self.arrive()
        self.work: list[
            tuple[str, str, list[dict[str, Any]], int, int]
        ] = []  # id, total, lines, step, shipment

    @task(4)
    def any_order(self) -> None:
        pool = KNOWN or [order[0] for order in itertools.islice(PLACED, 100)]
        if not pool:
            self.newest()
            return
        self.get(f"/api/orders/{rng.choice(pool)}/", "GET /api/orders/{id}/")

    @task(3)
    def newest(self) -> None:
        self.get("/api/orders/?limit=20", "GET /api/orders/")

    @task(2)
    def command(self) -> None:
        if not self.work:
            if not PLACED:
                self.newest()
                return
            order_id, total, lines = PLACED.popleft()
            self.work.append((order_id, total, lines, 0, 0))
        order_id, total, lines, step, shipment = self.work.pop()
        base = f"/api/orders/{order_id}"
        if step == 0:
            answer = self.post(
                f"{base}/payments/", {"amount": total, "reference": f"PAY-{order_id}"}, "POST pay"
            )
            if answer.status_code == 200:
                self.work.append((order_id, total, lines, 1, 0))
        elif step == 1:
            shipped = [{"sku": line["sku"], "quantity": line["quantity"]} for line in lines]
            body = {"lines": shipped, "carrier": "DHL", "tracking_number": f"TRK-{order_id}"}
            answer = self.post(f"{base}/shipments/", body, "POST ship")
            if answer.status_code == 200:
                shipments = answer.json()["shipments"]
                self.work.append((order_id, total, lines, 2, shipments[-1]["id"]))
        else:
            self.post(f"{base}/shipments/{shipment}/deliver/", {}, "POST deliver")
