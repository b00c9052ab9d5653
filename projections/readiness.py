"""``/readyz`` check ``projections``: lag, state, refusals and whoever holds the horizon back."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from config.readiness import CheckResult, statement_timeout
from projections import guard
from projections.horizon import horizon_holder
from projections.models import ProjectionCheckpoint
from projections.status import projection_status


def check_projections(*, budget: float) -> CheckResult:
    """Every projection is not failed and at most ``READINESS_MAX_PROJECTION_LAG`` seconds behind; the
    runner does not refuse (``projections.guard``); no transaction held open for longer than
    ``PROJECTION_HORIZON_HELD_THRESHOLD`` holds committed events back (it is named, see below)."""
    max_lag = settings.READINESS_MAX_PROJECTION_LAG
    with transaction.atomic():
        statement_timeout(budget)
        statuses = projection_status()
        refusals = guard.refusals()
        holder = horizon_holder(min_seconds=settings.PROJECTION_HORIZON_HELD_THRESHOLD)
    problems = [f"projections refuse to run: {r.message}" for r in refusals]
    problems += [f"{s.name} is failed" for s in statuses if s.state == ProjectionCheckpoint.State.FAILED]
    problems += [f"{s.name} lags {s.lag_seconds:.0f}s" for s in statuses if s.lag_seconds > max_lag]
    if holder is not None and any(s.lag_events for s in statuses):
        problems.append(f"committed events are held back by {holder.describe()}")
    result: CheckResult = {
        "status": "fail" if problems else "ok",
        "max_lag_seconds": max_lag,
        # last_error is left out on purpose: it may quote event data (names, addresses).
        "projections": {
            s.name: {"state": s.state, "lag_events": s.lag_events, "lag_seconds": round(s.lag_seconds, 3)}
            for s in statuses
        },
    }
    if refusals:
        result["refused"] = [r.code for r in refusals]
    if holder is not None:
        # Safe to show: pid, database, application, start, state, the query's first line with its
        # literals masked (projections.horizon).
        result["horizon_held_by"] = holder.as_dict()
    if problems:
        result["problems"] = problems
    return result
