"""Sending: signed so that an independent library verifies it, retried on PostgreSQL's schedule, leases
that expire into a resend with the same id, 410, the circuit breaker, per-endpoint caps, ordered mode,
and an erased customer's data never sent."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from accounts.roles import Role
from orders import commands as c
from orders import store
from orders.events import ERASED
from orders.handlers import dispatch
from subscriptions import redeliver, services, signing, transport
from subscriptions.models import Delivery, DeliveryAttempt, Endpoint
from subscriptions.sender import Outcome, Sender, claim, record
from tests.subscriptions.conftest import append_payments, fan_out_everything
from tests.subscriptions.receiver import Receiver, running_receiver

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(*, threads: int = 4, seconds: float = 10.0) -> int:
    fan_out_everything(batch_size=1000)
    return Sender(threads=threads).run(max_seconds=seconds)


def make_due(endpoint: Endpoint) -> None:
    """Move time on: every scheduled retry of the endpoint is due now."""
    endpoint.deliveries.filter(state=Delivery.State.PENDING).update(next_attempt_at=timezone.now())


def test_a_delivery_verifies_with_the_standard_library_and_carries_the_event(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    endpoint = make_endpoint(receiver.url())
    [position] = append_payments(1)

    assert deliver() == 1

    assert receiver.bad_signatures == 0
    [body] = receiver.inbox.values()
    assert body["type"] == "PaymentRecorded" and body["position"] == position and body["version"] == 1
    assert body["data"] == {"amount": "12.50", "reference": "r"}  # money as two-decimal strings
    assert body["id"].startswith("evt_") and body["stream_version"] == 1
    delivery = endpoint.deliveries.get()
    assert delivery.state == Delivery.State.DELIVERED and delivery.attempts == 1
    attempt = delivery.log.get()
    assert attempt.status_code == 204 and attempt.request_headers["webhook-id"] == body["id"]
    assert attempt.request_headers["webhook-position"] == str(position)


def test_failures_are_retried_on_the_schedule_with_the_same_id_and_retry_after_is_honoured(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    endpoint = make_endpoint(receiver.url())
    receiver.script.actions["/hook"] = ["500", "429:120", "reset"]
    append_payments(1)

    before = timezone.now()
    deliver()
    delivery = endpoint.deliveries.get()
    assert delivery.state == Delivery.State.PENDING and delivery.last_status == 500
    assert (
        before + timedelta(seconds=3.9) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=6.1)
    )

    make_due(endpoint)
    deliver()
    delivery.refresh_from_db()
    assert delivery.last_status == 429
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=110)  # Retry-After over 1 min

    make_due(endpoint)
    deliver()
    delivery.refresh_from_db()
    assert delivery.last_error == "connection reset or closed"

    make_due(endpoint)
    deliver()
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED and delivery.attempts == 4
    ids = {a.request_headers["webhook-id"] for a in DeliveryAttempt.objects.filter(delivery=delivery)}
    assert len(ids) == 1 and len(receiver.inbox) == 1


def test_retries_end_in_a_dead_delivery(receiver: Receiver, make_endpoint: Callable[..., Endpoint]) -> None:
    endpoint = make_endpoint(receiver.url())
    receiver.script.actions["/hook"] = ["500"] * 20
    append_payments(1)
    for _ in range(9):  # the first attempt and 8 retries
        make_due(endpoint)
        deliver()
    delivery = endpoint.deliveries.get()
    assert delivery.state == Delivery.State.DEAD and delivery.attempts == 9


def test_an_expired_lease_is_sent_again_with_the_same_id(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    endpoint = make_endpoint(receiver.url())
    append_payments(1)
    fan_out_everything(batch_size=10)
    [claimed] = claim(limit=10, lease_seconds=60)  # a sender that is then killed: nothing recorded
    assert claim(limit=10) == [], "a leased delivery was claimed twice"

    Delivery.objects.filter(pk=claimed.delivery_id).update(lease_expires_at=timezone.now())
    deliver()
    delivery = endpoint.deliveries.get()
    assert delivery.state == Delivery.State.DELIVERED and delivery.attempts == 2
    assert len(receiver.inbox) == 1


def test_a_redelivery_during_a_send_is_not_undone_by_its_failure(
    make_endpoint: Callable[..., Endpoint],
) -> None:
    endpoint = make_endpoint("http://127.0.0.1:9/in")
    append_payments(1)
    fan_out_everything(batch_size=10)
    [claimed] = claim(limit=10, lease_seconds=60)
    redeliver.redeliver_one(endpoint.deliveries.get(), actor=endpoint.owner)  # while the POST is out
    record(Outcome(claimed, "u", {}, transport.Response(500, None, "", "", 1)))  # then it fails

    delivery = endpoint.deliveries.get()
    assert delivery.attempts == 0 and delivery.next_attempt_at <= timezone.now()


def test_410_disables_the_endpoint_and_nothing_more_is_sent(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    endpoint = make_endpoint(receiver.url())
    receiver.script.actions["/hook"] = ["410"]
    append_payments(3)
    deliver(threads=1)
    endpoint.refresh_from_db()
    assert endpoint.state == Endpoint.State.DISABLED and "410" in endpoint.state_reason
    assert DeliveryAttempt.objects.count() == 1
    assert endpoint.deliveries.filter(state=Delivery.State.PENDING).count() == 3


def test_the_breaker_pauses_an_endpoint_and_resuming_drains_its_backlog(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint], settings: Any
) -> None:
    settings.SUBSCRIPTION_BREAKER_THRESHOLD = 3
    endpoint = make_endpoint(receiver.url())
    receiver.script.actions["/hook"] = ["500"] * 3
    append_payments(3)
    deliver(threads=1)
    endpoint.refresh_from_db()
    assert endpoint.state == Endpoint.State.PAUSED and "circuit breaker" in endpoint.state_reason
    later = append_payments(2)  # committed while paused: the cursor stays, nothing is lost
    deliver()
    assert endpoint.deliveries.count() == 3

    Endpoint.objects.filter(pk=endpoint.pk).update(state=Endpoint.State.ACTIVE, consecutive_failures=0)
    make_due(endpoint)
    deliver()
    assert endpoint.deliveries.filter(state=Delivery.State.DELIVERED).count() == 5
    assert {body["position"] for body in receiver.inbox.values()} >= set(later)


def test_a_hanging_receiver_holds_only_its_own_cap(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint], settings: Any
) -> None:
    settings.SUBSCRIPTION_READ_TIMEOUT = 2.0
    receiver.hang_seconds = 5
    slow = make_endpoint(receiver.url("/slow"), max_in_flight=2)
    fast = make_endpoint(receiver.url("/fast"))
    receiver.script.actions["/slow"] = ["hang"] * 50
    append_payments(20)

    started = time.monotonic()
    fan_out_everything(batch_size=1000)
    Sender(threads=4).run(max_seconds=1.5)
    assert time.monotonic() - started < 8
    assert fast.deliveries.filter(state=Delivery.State.DELIVERED).count() == 20
    assert slow.deliveries.filter(attempts__gt=0).count() <= 2 * 2  # two at a time, for the time given


def test_ordered_mode_keeps_a_stream_in_order_and_a_dead_delivery_blocks_only_its_stream(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    endpoint = make_endpoint(receiver.url(), ordered=True)
    stream = uuid4()
    blocked = append_payments(3, stream_id=stream)
    other = append_payments(2)
    receiver.script.actions["/hook"] = ["500"]  # the stream's first event fails once

    deliver(threads=1)  # one at a time, oldest first: the stream's first event meets the 500
    assert set(
        endpoint.deliveries.filter(state=Delivery.State.DELIVERED).values_list("position", flat=True)
    ) == set(other)
    assert endpoint.deliveries.filter(position__in=blocked[1:], attempts=0).count() == 2  # waited

    make_due(endpoint)
    deliver()
    deliver()
    deliver()
    arrived = [body["stream_version"] for _, _, body in receiver.arrivals if body["stream_id"] == str(stream)]
    assert arrived == [1, 2, 3]

    # A dead delivery blocks the rest of its stream, visibly, and is not skipped.
    stream2 = uuid4()
    first, second = append_payments(2, stream_id=stream2)
    fan_out_everything(batch_size=100)
    Delivery.objects.filter(endpoint=endpoint, position=first).update(state=Delivery.State.DEAD)
    deliver()
    assert Delivery.objects.get(endpoint=endpoint, position=second).attempts == 0


def test_both_secrets_sign_during_a_rotation(make_endpoint: Callable[..., Endpoint]) -> None:
    old, new = signing.new_secret(), signing.new_secret()
    with running_receiver([old]) as holding_old, running_receiver([new]) as holding_new:
        for r in (holding_old, holding_new):
            make_endpoint(
                r.url(),
                secret=new,
                previous_secret=old,
                previous_secret_expires_at=timezone.now() + timedelta(hours=24),
            )
        append_payments(1)
        deliver()
        assert len(holding_old.inbox) == len(holding_new.inbox) == 1
        assert holding_old.bad_signatures == holding_new.bad_signatures == 0


def test_two_rotations_at_once_keep_the_first_new_secret_signing(
    make_endpoint: Callable[..., Endpoint],
) -> None:
    # Two requests load the endpoint before either rotates: the second must overlap the first's secret,
    # not the one both read (which would leave the first new secret, already handed out, signing nothing).
    endpoint = make_endpoint("https://hooks.example.com/in")
    first_view, second_view = Endpoint.objects.get(pk=endpoint.pk), Endpoint.objects.get(pk=endpoint.pk)
    first = services.rotate_secret(first_view)
    second = services.rotate_secret(second_view)
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (second, first)


def test_an_erased_customers_personal_data_is_never_sent(
    receiver: Receiver,
    make_endpoint: Callable[..., Endpoint],
    placed_order: Callable[..., Any],
    make_user: Any,
) -> None:
    endpoint = make_endpoint(receiver.url(), event_types=["OrderCreated"])
    order_id = placed_order()
    fan_out_everything(batch_size=100)
    delivery = endpoint.deliveries.get()
    created = store.load(order_id)[0].event
    dispatch(c.EraseCustomerData(customer_id=created.customer_id), actor=make_user(Role.MANAGER))

    deliver()
    [body] = receiver.inbox.values()
    assert body["position"] == delivery.position
    assert body["data"]["customer_name"] == ERASED and body["data"]["customer_email"] == ERASED


def test_an_event_that_cannot_be_read_fails_alone(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    endpoint = make_endpoint(receiver.url())
    [good] = append_payments(1)
    with connection.cursor() as cursor:  # a stored type this release does not know
        cursor.execute(
            "INSERT INTO event_log (stream_id, version, event_type, schema_version, payload, metadata)"
            " VALUES (%s, 1, 'FromTheFuture', 1, '{}', '{}') RETURNING position",
            [uuid4()],
        )
        bad = cursor.fetchone()[0]
    deliver()
    assert endpoint.deliveries.get(position=good).state == Delivery.State.DELIVERED
    poisoned = endpoint.deliveries.get(position=bad)
    assert poisoned.state == Delivery.State.PENDING and "could not be read" in poisoned.last_error
