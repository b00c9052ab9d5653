"""Prometheus figures of the subscriptions: deliveries by state, the oldest due delivery's age (lag),
fan-out lag in events, endpoints by state."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from subscriptions import status


class SubscriptionCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = status.overview()
        deliveries = GaugeMetricFamily(
            "webhook_deliveries", "Webhook deliveries by endpoint and state", labels=["endpoint", "state"]
        )
        lag = GaugeMetricFamily(
            "webhook_delivery_lag_seconds", "Age of the oldest due undelivered delivery", labels=["endpoint"]
        )
        fanout = GaugeMetricFamily(
            "webhook_fanout_lag_events",
            "Events in the log past the endpoint's fan-out cursor",
            labels=["endpoint"],
        )
        failures = GaugeMetricFamily(
            "webhook_endpoint_consecutive_failures", "Failed attempts in a row", labels=["endpoint", "state"]
        )
        failed = GaugeMetricFamily(
            "webhook_failed_attempts_last_hour",
            "Failed delivery attempts in the last hour",
            labels=["endpoint"],
        )
        for row in figures:
            name = str(row.endpoint_id)
            for state, count in row.deliveries.items():
                deliveries.add_metric([name, state], count)
            lag.add_metric([name], row.lag_seconds)
            fanout.add_metric([name], row.fanout_lag_events)
            failures.add_metric([name, row.state], row.consecutive_failures)
            failed.add_metric([name], row.failed_last_hour)
        yield from (deliveries, lag, fanout, failures, failed)
