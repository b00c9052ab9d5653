"""The drill's clients beside the pilot-light probe (``standby.probe.WriteProbe``, reused per site):

- ``StockWriter``: a site's customer creates an order of one unit and places it, until the site's
  allocation is sold out: what must never be oversold at either site.
- ``CrossSiteRetrier``: re-sends commands a site acknowledged to the *other* site, with the same
  Idempotency-Key and body — a client that failed over on its own. The answer must be the first one
  (replayed from the replicated record) or ``421 wrong_site`` (not arrived yet); never a second run.
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections import Counter
from typing import Any

from standby.probe import Ack, Api, WriteProbe

ADDRESS = {
    "name": "Drill Customer",
    "line1": "1 Loopback Road",
    "city": "Localhost",
    "postal_code": "127",
    "country": "GB",
}


class StockWriter:
    def __init__(self, api: Api, sku: str) -> None:
        self.api, self.sku = api, sku
        self.placed = 0
        self.sold_out = 0
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stock-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set() and self.sold_out < 3:
            created = self._send(
                "/api/orders/", {"lines": [{"sku": self.sku, "quantity": 1}], "shipping_address": ADDRESS}
            )
            if created is None or created.status != 201:
                continue
            placed = self._send(f"/api/orders/{created.body['id']}/place/", {})
            if placed is not None and placed.status == 200:
                self.placed += 1
            elif placed is not None and placed.code == "insufficient_stock":
                self.sold_out += 1
            time.sleep(0.02)

    def _send(self, path: str, body: dict[str, Any]) -> Any:
        key = str(uuid.uuid4())
        for _ in range(50):
            try:
                response = self.api.call("POST", path, body, {"Idempotency-Key": key})
            except (OSError, http.client.HTTPException) as exc:
                self.failures[type(exc).__name__] += 1
                time.sleep(0.05)
                continue
            if response.status < 500 and response.code != "idempotency_key_in_use":
                return response
            self.failures[f"{response.status} {response.code}"] += 1
            time.sleep(0.05)
        return None


class CrossSiteRetrier:
    """Every ``interval`` seconds, re-send the newest acknowledged commands of ``probe`` to ``other``."""

    def __init__(self, probe: WriteProbe, *, customer: Api, manager: Api, interval: float = 0.2) -> None:
        self.probe, self.customer, self.manager, self.interval = probe, customer, manager, interval
        self.answers: Counter[str] = Counter()
        self.retried: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cross-site-retrier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for ack in self.probe.log.snapshot()[-3:]:
                if ack.command_id not in self.retried:
                    self.retried.add(ack.command_id)
                    self.answers[self._retry(ack)] += 1

    def _retry(self, ack: Ack) -> str:
        headers = {"Idempotency-Key": ack.command_id, "X-Request-ID": ack.command_id}
        if ack.kind == "create_order":
            api, path, body = self.customer, "/api/orders/", {}
        else:
            api, path, body = (
                self.manager,
                f"/api/orders/{ack.order_id}/notes/",
                {"text": f"probe {ack.command_id}"},
            )
        try:
            response = api.call("POST", path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            return f"connection error: {type(exc).__name__}"
        if response.status in (200, 201):
            replayed = response.headers.get("idempotent-replayed") == "true"
            same = (
                str(response.body.get("id")) == ack.order_id
                and int(response.body.get("version", -1)) == ack.version
            )
            return "replayed the first answer" if replayed and same else "EXECUTED AGAIN"
        return f"{response.status} {response.code}".strip()
