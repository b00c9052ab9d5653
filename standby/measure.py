"""Timing the failover and watching the read side, from a client's point of view."""

from __future__ import annotations

import contextlib
import http.client
import time
from dataclasses import dataclass
from typing import Any

from standby.probe import Ack, Api


@dataclass
class Clock:
    """``time.monotonic()`` moments of one failover."""

    killed: float
    promoted: float = 0.0
    first_write: float = 0.0  # first command acknowledged whose attempt was sent after the kill
    read_side: float = 0.0  # ... and first read that showed it (read-your-writes through the projections)

    def rto(self) -> dict[str, float]:
        return {
            "promotion": round(self.promoted - self.killed, 3),
            "first_acknowledged_write": round(self.first_write - self.killed, 3),
            "read_side_caught_up": round(self.read_side - self.killed, 3),
        }


class ReadSide:
    def __init__(self, api: Api) -> None:
        self.api = api

    def wait_for(self, ack: Ack, *, timeout: float) -> float:
        """When a read of the order, sent with the write's ``X-Consistency-Token``, first showed it.

        The platform holds such a read up to 2 s for the projections, then answers 503
        ``projection_lagging``; we ask again until it answers 200 with at least the acknowledged version.
        """
        headers = {"X-Consistency-Token": ack.consistency_token}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                response = self.api.call("GET", f"/api/orders/{ack.order_id}/", headers=headers)
                if response.status == 200 and int(response.body["version"]) >= ack.version:
                    return time.monotonic()
            time.sleep(0.05)
        raise TimeoutError(f"the read side did not show order {ack.order_id} v{ack.version} in {timeout}s")

    def caught_up(self, *, timeout: float) -> bool:
        """Every projection running and without lag (``GET /api/projections/``), within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                response = self.api.call("GET", "/api/projections/")
                if response.status == 200 and all(
                    p["lag_events"] == 0 and p["state"] == "running" for p in response.body
                ):
                    return True
            time.sleep(0.1)
        return False


def lag_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The replication lag seen under load before the kill: the last sample and the worst of each."""
    if not samples:
        return {"samples": 0}

    def worst(key: str) -> float | None:
        values = [s[key] for s in samples if s[key] is not None]
        return _rounded(max(values)) if values else None

    keys = ("bytes_not_sent", "bytes_not_flushed", "bytes_not_replayed")
    lags = ("write_lag_ms", "flush_lag_ms", "replay_lag_ms")
    return {
        "samples": len(samples),
        "sync_state": samples[-1]["sync_state"],
        "last": {k: _rounded(samples[-1][k]) for k in keys + lags},
        "max": {k: worst(k) for k in keys + lags},
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
