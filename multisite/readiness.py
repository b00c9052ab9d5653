"""``/readyz`` check ``replication``: the subscription to the peer runs without errors, and our changes
reach the peer within ``MULTISITE_MAX_LAG``.

It answers "warn", never "fail": a site whose replication is stopped or whose peer is lost still serves
its own customers correctly, and taking it out of rotation would turn a replication problem into an
outage. The problems are named (and a conflicting row found, keys only) so the operator acts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from config.readiness import CheckResult, statement_timeout
from multisite.conflicts import find_conflicts
from multisite.status import replication_status


def check_replication(*, budget: float) -> CheckResult:
    with transaction.atomic():
        statement_timeout(budget)
        status = replication_status()
    problems = []
    inbound, outbound = status.inbound, status.outbound
    if not inbound.subscribed:
        problems.append(f"no subscription to site {status.peer}")
    elif not inbound.enabled:
        problems.append(f"the subscription to site {status.peer} is disabled")
    elif not inbound.worker_running:
        problems.append(f"the apply worker for site {status.peer} is not running")
    if inbound.apply_error_count or inbound.sync_error_count:
        problems.append(
            f"applying site {status.peer}'s changes failed {inbound.apply_error_count} time(s) "
            f"(+{inbound.sync_error_count} in the initial copy)"
        )
    if not outbound.connected:
        problems.append(f"site {status.peer} is not receiving our changes")
    if outbound.lag_seconds > settings.MULTISITE_MAX_LAG:
        problems.append(f"site {status.peer} applies our changes {outbound.lag_seconds:.1f}s late")
    result: CheckResult = {"status": "warn" if problems else "ok", **status.as_dict()}
    if inbound.apply_error_count and settings.MULTISITE_PEER_DSN:
        try:
            conflicts = find_conflicts(settings.MULTISITE_PEER_DSN, timeout=max(1, int(budget)))
        except Exception as exc:  # the peer may be what is lost; the counts above still say enough
            result["conflicts_unknown"] = type(exc).__name__
        else:
            result["conflicts"] = conflicts
            if conflicts:
                problems.append(f"{len(conflicts)} row(s) of site {status.peer} collide with rows here")
    if problems:
        result["problems"] = problems
    return result
