"""Prometheus metrics of the platform, defined once; ``/metrics`` exposes them."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

HTTP_REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
COMMANDS = Counter("commands_total", "Commands dispatched, by type and outcome", ["command", "outcome"])
EVENTS_APPENDED = Counter("events_appended_total", "Events appended to the log, by type", ["event_type"])
THROTTLE_DECISIONS = Counter(
    "throttle_decisions_total",
    "Throttle decisions by scope and result (allowed, limited, fail_open, fail_closed)",
    ["scope", "decision"],
)


# Collectors that read the database at scrape time, added by the apps that own what they measure
# (their AppConfig.ready): /metrics serves them beside the process metrics above.
SCRAPED: list[Collector] = []
