"""Thin Celery tasks around the runner. A message is only a nudge: beat catches up regardless."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from projections import runner
from projections.projectors import PROJECTORS


@shared_task(ignore_result=True)
def run_projections() -> dict[str, str]:
    """Catch every projection up. If committed events are not yet safe to read (an older transaction
    is still open), look again shortly rather than waiting for the next beat."""
    outcomes = {}
    held_back = False
    for name, projector in PROJECTORS.items():
        outcome, _ = runner.catch_up(projector, batch_size=settings.PROJECTION_BATCH_SIZE)
        outcomes[name] = outcome.value
        held_back |= outcome is runner.Outcome.IDLE and runner.has_pending(name)
    if held_back:  # every projection had its turn; look again shortly for what was not readable yet
        nudge(countdown=settings.PROJECTION_RECHECK_DELAY)
    return outcomes


def nudge(countdown: float | None = None) -> None:
    run_projections.apply_async(countdown=countdown)


@shared_task(ignore_result=True, acks_late=False)
def rebuild_projection(name: str) -> dict[str, float]:
    """Rebuild one projection. Acknowledged on receipt: a rebuild is never re-run by redelivery."""
    from projections.rebuild import rebuild

    result = rebuild(name)
    return {"events": result.events, "seconds": result.seconds}
