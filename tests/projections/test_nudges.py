"""Nudges through the real Redis broker: one queued catch-up per burst of commits, never none."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import redis
from django.conf import settings

from config.celery import app as celery_app
from orders import commands as c
from orders import store
from orders.handlers import dispatch
from projections import runner, tasks
from projections.models import ProjectionCheckpoint
from tests.projections.test_runner import created
from tests.projections.workload import checkpoint_held_elsewhere, writing_transaction_elsewhere


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own, so the messages in it can be counted."""
    name = f"test-nudges-{uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield name
    celery_app.conf.task_default_queue = previous
    client.delete(name)


def queued(queue: str) -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).llen(queue))


def take_recheck(queue: str) -> str:
    """Take the oldest message off the queue, as a worker would, and return its recheck token."""
    raw = redis.Redis.from_url(settings.REDIS_URL).rpop(queue)
    assert raw is not None, "no message queued"
    message = json.loads(raw)
    _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    return kwargs["recheck"]


@pytest.mark.django_db(transaction=True)
def test_nudges_before_the_run_starts_send_one_message_and_the_run_reopens_the_gate(queue: str) -> None:
    for _ in range(5):
        tasks.nudge()
    assert queued(queue) == 1

    tasks.run_projections()  # what the worker does with that message
    tasks.nudge()

    assert queued(queue) == 2


@pytest.mark.django_db(transaction=True)
def test_a_nudge_that_could_not_be_sent_does_not_hold_back_the_next(queue: str, monkeypatch: Any) -> None:
    def broker_down(**kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.run_projections, "apply_async", broker_down)
    with pytest.raises(ConnectionError):
        tasks.nudge()
    monkeypatch.undo()

    tasks.nudge()

    assert queued(queue) == 1


@pytest.mark.django_db(transaction=True)
def test_a_projection_busy_elsewhere_is_looked_at_again_shortly(queue: str) -> None:
    store.append(uuid4(), 0, [created("X")])
    runner.checkpoint_for("order_summary")
    with checkpoint_held_elsewhere("order_summary"):
        outcomes = tasks.run_projections()

    assert outcomes["order_summary"] == runner.Outcome.BUSY
    assert queued(queue) == 1  # the re-check, 0.2 s later
    tasks.nudge()
    assert queued(queue) == 2  # a commit meanwhile is not held up until the re-check


def wait_for_messages(queue: str, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while queued(queue) < count:
        assert time.monotonic() < deadline, f"{queued(queue)} of {count} messages after {timeout} s"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_committed_commands_are_nudged_from_the_background_thread(
    queue: str, settings: Any, customer: Any
) -> None:
    settings.PROJECTION_NUDGE_ON_COMMIT = True
    for _ in range(20):  # a burst: every commit asks, one message is pending at a time
        dispatch(c.CreateOrder(order_id=uuid4(), customer_id=customer.pk), actor=customer)

    wait_for_messages(queue, 1)
    time.sleep(0.2)
    assert queued(queue) == 1

    tasks.run_projections()  # the worker starts on it: the next commit needs a message of its own
    dispatch(c.CreateOrder(order_id=uuid4(), customer_id=customer.pk), actor=customer)
    wait_for_messages(queue, 2)


@pytest.mark.django_db(transaction=True)
def test_the_nudger_survives_a_broker_that_is_down(
    queue: str, settings: Any, customer: Any, monkeypatch: Any, caplog: Any
) -> None:
    settings.PROJECTION_NUDGE_ON_COMMIT = True
    failed = threading.Event()

    def broker_down() -> None:
        failed.set()
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks, "nudge", broker_down)
    dispatch(c.CreateOrder(order_id=uuid4(), customer_id=customer.pk), actor=customer)
    assert failed.wait(10)
    monkeypatch.undo()

    dispatch(c.CreateOrder(order_id=uuid4(), customer_id=customer.pk), actor=customer)

    wait_for_messages(queue, 1)
    assert "could not nudge the projections" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_without_the_gate_in_redis_runs_still_project_and_nudges_still_go_out(
    queue: str, monkeypatch: Any, caplog: Any
) -> None:
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    monkeypatch.setattr(tasks, "_redis", lambda: unreachable)
    store.append(uuid4(), 0, [created("X")])

    outcomes = tasks.run_projections()
    tasks.nudge()
    tasks.nudge()

    assert outcomes["order_summary"] == runner.Outcome.IDLE
    assert ProjectionCheckpoint.objects.get(name="order_summary").events_applied == 1
    assert queued(queue) == 2  # no gate: every nudge is sent
    assert "nudge gate in Redis is unavailable" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_while_a_transaction_elsewhere_holds_the_horizon_one_recheck_is_pending_at_a_time(queue: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    with writing_transaction_elsewhere():
        store.append(uuid4(), 0, [created("X")])  # committed, but not readable while the other is open
        for _ in range(5):  # beat ticks and nudges, each finding the event held back
            assert tasks.run_projections()["order_summary"] == runner.Outcome.IDLE
        assert queued(queue) == 1  # one recheck, not one per run

        tasks.run_projections(recheck=take_recheck(queue))  # still held back: it schedules the next
        tasks.run_projections()
        assert queued(queue) == 1

        # The gate expired while a recheck was late, and a second chain began: they merge again.
        client.delete(f"projections:recheck-pending:{queue}")
        tasks.run_projections()
        late, current = take_recheck(queue), take_recheck(queue)
        tasks.run_projections(recheck=late)
        tasks.run_projections(recheck=current)
        assert queued(queue) == 1

    tasks.run_projections(recheck=take_recheck(queue))  # the transaction has ended: the event is projected
    assert ProjectionCheckpoint.objects.get(name="order_summary").events_applied == 1
    assert queued(queue) == 0  # and the chain ends
