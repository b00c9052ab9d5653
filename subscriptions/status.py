"""One query's worth of figures per endpoint, for /metrics, the dashboard, the admin and the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import connection

from projections.dashboard import WebhookFigure

_SQL = """
SELECT e.id, e.state, e.consecutive_failures,
       coalesce(extract(epoch FROM now() - (
           SELECT min(d.next_attempt_at) FROM subscriptions_delivery d
           WHERE d.endpoint_id = e.id AND d.state = 'pending' AND d.next_attempt_at <= now())), 0)::float8,
       (SELECT count(*) FROM event_log l
        WHERE (l.transaction_id, l.position) > (c.transaction_id, c.position)),
       (SELECT count(*) FROM subscriptions_delivery d WHERE d.endpoint_id = e.id AND d.state = 'pending'),
       (SELECT count(*) FROM subscriptions_delivery d WHERE d.endpoint_id = e.id AND d.state = 'dead'),
       (SELECT count(*) FROM subscriptions_deliveryattempt a
        JOIN subscriptions_delivery d ON d.id = a.delivery_id
        WHERE d.endpoint_id = e.id AND a.attempted_at > now() - interval '1 hour'
          AND (a.status_code IS NULL OR a.status_code NOT BETWEEN 200 AND 299))
FROM subscriptions_endpoint e LEFT JOIN subscriptions_fanoutcursor c ON c.endpoint_id = e.id
ORDER BY e.created_at
"""


@dataclass(frozen=True)
class EndpointFigures:
    endpoint_id: uuid.UUID
    state: str
    consecutive_failures: int
    lag_seconds: float
    fanout_lag_events: int
    deliveries: dict[str, int] = field(default_factory=dict)
    failed_last_hour: int = 0


def overview() -> list[EndpointFigures]:
    with connection.cursor() as cursor:
        cursor.execute(_SQL)
        rows = cursor.fetchall()
    return [
        EndpointFigures(
            pk, state, failures, float(lag), int(fan or 0), {"pending": pending, "dead": dead}, failed_hour
        )
        for pk, state, failures, lag, fan, pending, dead, failed_hour in rows
    ]


def dashboard_figure() -> WebhookFigure:
    figures = overview()
    return WebhookFigure(
        endpoints=len(figures),
        stopped=sum(1 for f in figures if f.state != "active"),
        pending=sum(f.deliveries.get("pending", 0) for f in figures),
        dead=sum(f.deliveries.get("dead", 0) for f in figures),
        worst_lag_seconds=max((f.lag_seconds for f in figures), default=0.0),
    )
