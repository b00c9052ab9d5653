"""Thin Celery tasks. A message only wakes a worker: the schedule lives in PostgreSQL, so a task run
twice, late or killed half-way changes nothing twice (fan-out's cursor, the deliveries' leases)."""

from __future__ import annotations

import functools
import logging

import redis
from celery import current_app, shared_task
from django.conf import settings

from subscriptions import fanout, purge
from subscriptions.sender import Sender

logger = logging.getLogger(__name__)

RUN_SECONDS = 5.0  # a worker process is shared with the projections' tasks
PENDING_TTL = 5  # seconds


@shared_task(ignore_result=True)
def run_subscriptions() -> dict[str, int]:
    """Fan out what committed, then send what is due, until idle (or ``RUN_SECONDS``)."""
    _reopen_gate()
    inserted = fanout.fan_out(batch_size=settings.SUBSCRIPTION_FANOUT_BATCH_SIZE)
    sent = Sender().run(max_seconds=RUN_SECONDS)
    return {"fanned_out": inserted, "sent": sent}


@shared_task(ignore_result=True)
def purge_delivery_log() -> int:
    return purge.purge_old()


def nudge() -> None:
    """Queue a run, unless one is queued and not yet started (one message per burst of commits)."""
    try:
        if not _redis().set(_pending_key(), 1, nx=True, ex=PENDING_TTL):
            return
    except redis.RedisError:
        logger.warning("the subscriptions' nudge gate in Redis is unavailable; sending the nudge anyway")
    run_subscriptions.apply_async()


def _reopen_gate() -> None:
    try:
        _redis().delete(_pending_key())
    except redis.RedisError:
        logger.warning("the subscriptions' nudge gate in Redis is unavailable; running all the same")


def _pending_key() -> str:
    return f"subscriptions:run-pending:{current_app.conf.task_default_queue}"


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
