"""``/metrics`` series of multi-site replication, read at scrape time (scrape both sites: each
measures its outbound direction exactly)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from multisite.status import replication_status

logger = logging.getLogger(__name__)


class ReplicationCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        try:
            status = replication_status()
        except Exception:
            logger.warning("could not read the replication status for /metrics", exc_info=True)
            return []
        labels = ["site", "peer"]
        values = [status.site, status.peer]
        out, inbound = status.outbound, status.inbound

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=labels)
            family.add_metric(values, value)
            return family

        return [
            gauge(
                "multisite_outbound_lag_bytes", "WAL of this site the peer has not applied", out.bytes_behind
            ),
            gauge(
                "multisite_outbound_lag_seconds",
                "The peer's replay lag of this site's changes",
                out.lag_seconds,
            ),
            gauge(
                "multisite_slot_retained_bytes",
                "WAL the peer's slot keeps on this site's disk",
                out.retained_bytes,
            ),
            gauge(
                "multisite_outbound_connected",
                "1 if the peer streams this site's changes",
                int(out.connected),
            ),
            gauge(
                "multisite_inbound_worker_running",
                "1 if the apply worker for the peer runs",
                int(inbound.worker_running),
            ),
            gauge(
                "multisite_inbound_apply_errors",
                "Errors applying the peer's changes (conflicts)",
                inbound.apply_error_count,
            ),
            gauge(
                "multisite_inbound_sync_errors",
                "Errors in the initial copy from the peer",
                inbound.sync_error_count,
            ),
        ]
