"""Thin Celery tasks around the runner. A message is only a nudge: beat catches up regardless."""

from __future__ import annotations

import contextlib
import functools
import logging

import redis
from celery import current_app, shared_task
from django.conf import settings

from projections import runner
from projections.projectors import PROJECTORS

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def run_projections() -> dict[str, str]:
    """Catch every projection up. If committed events are not yet safe to read (an older transaction
    is still open), look again shortly rather than waiting for the next beat."""
    _reopen_gate()  # before reading: what commits from now on needs a nudge of its own
    outcomes = {}
    held_back = False
    for name, projector in PROJECTORS.items():
        outcome, _ = runner.catch_up(projector, batch_size=settings.PROJECTION_BATCH_SIZE)
        outcomes[name] = outcome.value
        # Idle with events pending: not readable yet. Busy: another runner holds it and may have
        # read before the newest commit. Either way, look again shortly rather than at the next beat.
        held_back |= outcome is runner.Outcome.BUSY or (
            outcome is runner.Outcome.IDLE and runner.has_pending(name)
        )
    if held_back:  # not coalesced: a commit meanwhile still sends its own nudge, run at once
        run_projections.apply_async(countdown=settings.PROJECTION_RECHECK_DELAY)
    return outcomes


# A run that is queued and not yet started reads everything committed before it starts, so further
# nudges until then add nothing: one message per burst of commits instead of one per commit. If the
# message is lost after all, the flag expires and beat catches up meanwhile. Without Redis there is no
# gate: every nudge is sent, and the runs go on.
PENDING_TTL = 10  # seconds


def nudge() -> None:
    """Queue a catch-up of every projection, unless one is queued and has not started yet."""
    key = _pending_key()
    try:
        if not _redis().set(key, 1, nx=True, ex=PENDING_TTL):
            return
    except redis.RedisError:
        logger.warning("the nudge gate in Redis is unavailable; sending the nudge anyway")
    try:
        run_projections.apply_async()
    except Exception:
        with contextlib.suppress(redis.RedisError):
            _redis().delete(key)
        raise


def _reopen_gate() -> None:
    try:
        _redis().delete(_pending_key())
    except redis.RedisError:
        logger.warning("the nudge gate in Redis is unavailable; projecting all the same")


def _pending_key() -> str:
    return f"projections:run-pending:{current_app.conf.task_default_queue}"


@functools.cache
def _redis() -> redis.Redis:
    # One client per process: building one (as the cache framework does per call) costs more than
    # the command it sends, and every commit sends one.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


@shared_task(ignore_result=True, acks_late=False)
def rebuild_projection(name: str) -> dict[str, float] | None:
    """Rebuild one projection. Acknowledged on receipt: a rebuild is never re-run by redelivery. While
    another rebuild of it runs, or an operator has stopped it, this one does nothing but say so."""
    from config.errors import InvalidTransition
    from projections.rebuild import RebuildInProgress, rebuild

    try:
        result = rebuild(name)
    except (RebuildInProgress, InvalidTransition) as refused:
        logger.warning("not rebuilding %s: %s", name, refused.message)
        return None
    return {"events": result.events, "seconds": result.seconds}
