"""Fixtures of the subscriptions' tests: endpoints, events appended to the log, a loopback receiver."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db import connection, transaction

from accounts.roles import Role
from orders import events as e
from orders import store
from subscriptions import fanout, signing
from subscriptions.models import Endpoint
from tests.subscriptions.receiver import Receiver, running_receiver


def append_payments(count: int, *, per_transaction: int = 1, stream_id: UUID | None = None) -> list[int]:
    """``count`` PaymentRecorded events (money: the envelope shows it as strings); their positions."""
    positions: list[int] = []
    version = 0
    while len(positions) < count:
        with transaction.atomic():
            for _ in range(min(per_transaction, count - len(positions))):
                stream = stream_id or uuid4()
                recorded = store.append(
                    stream, version if stream_id else 0, [e.PaymentRecorded(amount=1250, reference="r")]
                )
                positions.append(recorded[0].position)
                if stream_id:
                    version += 1
    return positions


@pytest.fixture
def secret() -> str:
    return signing.new_secret()


@pytest.fixture
def receiver(secret: str) -> Iterator[Receiver]:
    with running_receiver([secret]) as running:
        yield running


@pytest.fixture
def make_endpoint(make_user: Callable[..., Any], secret: str) -> Callable[..., Endpoint]:
    owner = make_user(Role.MANAGER)

    def make(url: str = "https://hooks.example.com/in", **fields: Any) -> Endpoint:
        endpoint = Endpoint.objects.create(
            url=url, secret=fields.pop("secret", secret), owner=owner, **fields
        )
        fanout.start_cursor(endpoint)
        return endpoint

    return make


def fan_out_everything(*, batch_size: int = 1000, timeout: float = 15.0) -> int:
    """Fan out until every active endpoint's cursor is past the log's end. Events become readable once
    every older transaction on the server has ended, another test run's included; hence the loop."""
    deadline = time.monotonic() + timeout
    inserted = 0
    while True:
        inserted += fanout.fan_out(batch_size=batch_size)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM subscriptions_endpoint AS e"
                " JOIN subscriptions_fanoutcursor AS c ON c.endpoint_id = e.id"
                " JOIN event_log AS l ON (l.transaction_id, l.position) > (c.transaction_id, c.position)"
                " WHERE e.state = 'active')"
            )
            if not cursor.fetchone()[0]:
                return inserted
        assert time.monotonic() < deadline, "the fan-out did not catch up"
        time.sleep(0.05)
