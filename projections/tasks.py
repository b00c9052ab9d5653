"""Thin Celery tasks around the runner. A message is only a nudge: beat catches up regardless."""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid

import redis
from celery import current_app, shared_task
from django.conf import settings

from config.errors import InvalidTransition
from projections import guard, runner
from projections.projectors import PROJECTORS
from projections.rebuild import RebuildInProgress, rebuild

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def run_projections(*, recheck: str | None = None) -> dict[str, str]:
    """Catch every projection up. If committed events are not yet safe to read (an older transaction
    is still open), look again shortly rather than waiting for the next beat: one recheck at a time.
    ``recheck`` is the token of the recheck this run is (``_schedule_recheck``)."""
    _reopen_gate(_pending_key())  # before reading: what commits from now on needs a nudge of its own
    if recheck is not None:
        _end_recheck(recheck)
    if guard.refused():  # logged as an error; /readyz says the same. No recheck: it would not help.
        return dict.fromkeys(PROJECTORS, runner.Outcome.REFUSED.value)
    outcomes = {}
    held_back = False
    for name, projector in PROJECTORS.items():
        outcome, _ = runner.catch_up(projector, batch_size=settings.PROJECTION_BATCH_SIZE, guarded=True)
        outcomes[name] = outcome.value
        # Idle with events pending: not readable yet. Busy: another runner holds it and may have
        # read before the newest commit. Either way, look again shortly rather than at the next beat.
        held_back |= outcome is runner.Outcome.BUSY or (
            outcome is runner.Outcome.IDLE and runner.has_pending(name)
        )
    if held_back:
        _schedule_recheck()
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


def _schedule_recheck() -> None:
    """Queue one delayed run, unless one is already pending. Rechecks have a gate of their own: while
    the horizon is held, every beat tick and nudge finds the projections held back, and each used to
    start a chain of its own (thousands after an hour). A commit meanwhile is still nudged at once.

    The gate holds the pending recheck's token, and only that recheck reopens it when it starts: if the
    gate expired (its message lost or late) and a second chain began, the late one finds another
    token, leaves the gate alone, and its chain ends there. Without Redis no recheck is sent: beat
    alone looks again, every PROJECTION_CATCH_UP_INTERVAL."""
    key, token = _recheck_key(), uuid.uuid4().hex
    try:
        if not _redis().set(key, token, nx=True, ex=PENDING_TTL + int(settings.PROJECTION_RECHECK_DELAY)):
            return
    except redis.RedisError:
        logger.warning("the recheck gate in Redis is unavailable; beat will look again")
        return
    try:
        run_projections.apply_async(kwargs={"recheck": token}, countdown=settings.PROJECTION_RECHECK_DELAY)
    except Exception:
        _end_recheck(token)
        raise


# Delete the gate only if it still holds this recheck's token: one round trip, atomic in Redis.
_END_RECHECK_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def _end_recheck(token: str) -> None:
    try:
        _redis().eval(_END_RECHECK_LUA, 1, _recheck_key(), token)
    except redis.RedisError:
        logger.warning("the recheck gate in Redis is unavailable; projecting all the same")


def _reopen_gate(key: str) -> None:
    try:
        _redis().delete(key)
    except redis.RedisError:
        logger.warning("the nudge gate in Redis is unavailable; projecting all the same")


def _pending_key() -> str:
    return f"projections:run-pending:{current_app.conf.task_default_queue}"


def _recheck_key() -> str:
    return f"projections:recheck-pending:{current_app.conf.task_default_queue}"


@functools.cache
def _redis() -> redis.Redis:
    # One client per process: building one (as the cache framework does per call) costs more than
    # the command it sends, and every commit sends one.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


@shared_task(ignore_result=True, acks_late=False)
def rebuild_projection(name: str) -> dict[str, float] | None:
    """Rebuild one projection. Acknowledged on receipt: a rebuild is never re-run by redelivery. While
    another rebuild of it runs, or an operator has stopped it, this one does nothing but say so."""
    try:
        result = rebuild(name)
    except (RebuildInProgress, InvalidTransition) as refused:
        logger.warning("not rebuilding %s: %s", name, refused.message)
        return None
    return {"events": result.events, "seconds": result.seconds}
