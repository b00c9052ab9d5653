"""``/metrics`` series of the read side, measured at scrape time (the same for every process)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.registry import Collector

from projections import guard
from projections.horizon import horizon_holder
from projections.models import ProjectionCheckpoint
from projections.status import projection_status

logger = logging.getLogger(__name__)


class ProjectionCollector(Collector):
    """Projection lag and state, read from the database at scrape time (the same for every process)."""

    def collect(self) -> Iterable[Metric]:
        try:
            statuses = projection_status()
        except Exception:
            # The other metrics are still worth serving; the missing series themselves alert.
            logger.warning("could not read the projection status for /metrics", exc_info=True)
            return []
        lag_events = GaugeMetricFamily(
            "projection_lag_events",
            "Committed events the projection has not applied yet",
            labels=["projection"],
        )
        lag_seconds = GaugeMetricFamily(
            "projection_lag_seconds",
            "Age of the oldest event the projection has not applied",
            labels=["projection"],
        )
        state = StateSetMetricFamily("projection_state", "State of the projection", labels=["projection"])
        for s in statuses:
            lag_events.add_metric([s.name], s.lag_events)
            lag_seconds.add_metric([s.name], s.lag_seconds)
            state.add_metric(
                [s.name], {value: s.state == value for value in ProjectionCheckpoint.State.values}
            )
        return [lag_events, lag_seconds, state]


class HorizonCollector(Collector):
    """At scrape time: how long the transaction holding the read side's horizon has been open, which
    session it is once that exceeds ``PROJECTION_HORIZON_HELD_THRESHOLD``, and whether the projections
    refuse to run (``projections.guard``). Alert on ``projection_horizon_held_seconds`` or on
    ``projection_refused``; the info series says whom to ask."""

    def collect(self) -> Iterable[Metric]:
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
