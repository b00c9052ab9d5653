"""Prometheus metrics of the platform, defined once; ``/metrics`` exposes them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
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


class HorizonCollector(Collector):
    """At scrape time: how long the transaction holding the read side's horizon has been open, which
    session it is once that exceeds ``PROJECTION_HORIZON_HELD_THRESHOLD``, and whether the projections
    refuse to run (``projections.guard``). Alert on ``projection_horizon_held_seconds`` or on
    ``projection_refused``; the info series says whom to ask."""

    def collect(self) -> Iterable[Metric]:
        from django.conf import settings

        from projections import guard
        from projections.horizon import horizon_holder

        try:
            holder = horizon_holder()
            refusals = {refusal.code for refusal in guard.refusals()}
        except Exception:
            logger.warning("could not read the projections' horizon for /metrics", exc_info=True)
            return []
        held = GaugeMetricFamily(
            "projection_horizon_held_seconds",
            "How long the transaction holding committed events back from the projections has been open",
        )
        held.add_metric([], holder.held_seconds if holder else 0.0)
        info = InfoMetricFamily(
            "projection_horizon_holder",
            "The session holding committed events back, once it has for PROJECTION_HORIZON_HELD_THRESHOLD",
        )
        if holder is not None and holder.held_seconds >= settings.PROJECTION_HORIZON_HELD_THRESHOLD:
            details = holder.as_dict()
            info.add_metric(
                [],
                {
                    key: "" if details.get(key) is None else str(details[key])
                    for key in ("pid", "database", "application_name", "transaction_start", "state", "query")
                },
            )
        refused = GaugeMetricFamily(
            "projection_refused", "1 while the projections refuse to run, by reason", labels=["reason"]
        )
        for reason in ("transaction_ids_ahead", "orphaned_prepared_transaction"):
            refused.add_metric([reason], 1.0 if reason in refusals else 0.0)
        return [held, info, refused]
