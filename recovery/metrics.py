"""``/metrics`` gauges of the backups, measured at scrape time like ``/readyz`` (``recovery.status``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from recovery.status import recovery_point

logger = logging.getLogger(__name__)


class BackupCollector(Collector):
    """The measured RPO, the events in no archive, the newest archive's age. No RPO series when it
    cannot be measured (moved data): its absence alerts, a made-up 0 would not."""

    def collect(self) -> Iterable[Metric]:
        try:
            point = recovery_point()
        except Exception:
            logger.warning("could not measure the backups' recovery point for /metrics", exc_info=True)
            return []
        metrics: list[Metric] = []
        if point.newest is not None:
            newest = GaugeMetricFamily(
                "backup_newest_age_seconds", "Seconds since the newest backup's snapshot was taken"
            )
            newest.add_metric([], point.newest_age_seconds or 0.0)
            metrics.append(newest)
        if point.rpo_seconds is None:
            return metrics
        rpo = GaugeMetricFamily(
            "backup_rpo_seconds",
            "Age of the oldest committed event that no backup holds (0 when every event is in one)",
        )
        rpo.add_metric([], point.rpo_seconds)
        uncovered = GaugeMetricFamily("backup_uncovered_events", "Committed events that no backup holds")
        uncovered.add_metric([], point.uncovered_events)
        return [rpo, uncovered, *metrics]
