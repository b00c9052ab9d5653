"""Replication's figure on the admin index (``projections.dashboard``): the /readyz check, in words."""

from __future__ import annotations

import logging

from django.db import DatabaseError

from multisite.readiness import check_replication
from projections.dashboard import ReplicationFigure

logger = logging.getLogger(__name__)


def replication_figure() -> ReplicationFigure | None:
    try:
        result = check_replication(budget=2.0)
    except DatabaseError:
        logger.warning("could not read the replication status for the dashboard", exc_info=True)
        return None
    outbound = result["outbound"]
    text = f"our changes {outbound['lag_seconds']:.1f} s / {outbound['bytes_behind']:,} bytes behind"
    problems = list(result.get("problems", []))
    problems += [
        f"conflict in {c['table']}: their row {c['peer_key']} collides with ours {c['local_key']} on "
        + ", ".join(f"{k}={v}" for k, v in c["unique"].items())
        for c in result.get("conflicts", [])
    ]
    return ReplicationFigure(peer=result["peer"], text=text, problems=tuple(problems))
