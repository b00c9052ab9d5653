"""The pull feed: every position exactly once, in commit order, under concurrent writers and a
transaction held open; the long poll; who may read it; bad input is a 400 that changes nothing."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from django.db import connections, transaction
from rest_framework.test import APIClient

from accounts.roles import Role
from orders import events as e
from orders import store
from tests.projections.workload import writing_transaction_elsewhere
from tests.subscriptions.conftest import append_payments

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_feed_gives_every_position_once_in_order_under_eight_writers_and_an_open_transaction(
    make_user: Callable[..., Any], settings: Any
) -> None:
    settings.THROTTLE_ENABLED = False  # the reader polls in a tight loop; throttling has its own tests
    reader = client_for(make_user(Role.SUPPORT))
    start = reader.get("/api/events/", {"after": 0, "limit": 1000}).json()
    after = start["next_after"]
    while True:  # skip to the end of what the database already holds
        page = reader.get("/api/events/", {"after": after, "limit": 1000}).json()
        if not page["results"]:
            break
        after = page["next_after"]

    written: list[int] = []
    lock = threading.Lock()
    done = threading.Event()
    streams = [uuid4() for _ in range(8)]

    def writer(i: int) -> None:
        rng = random.Random(i)
        try:
            for version in range(25):
                with transaction.atomic():
                    positions = append_payments(1, stream_id=None) if version % 5 else []
                    positions += [
                        store.append(streams[i], version, [e.PaymentRecorded(amount=100, reference="w")])[
                            0
                        ].position
                    ]
                    time.sleep(rng.uniform(0, 0.01))  # commit out of number order
                with lock:
                    written.extend(positions)
        finally:
            connections.close_all()

    seen: list[dict[str, Any]] = []

    def read() -> None:
        nonlocal after
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                finished = done.is_set()
                page = reader.get("/api/events/", {"after": after, "limit": 37}).json()
                seen.extend(page["results"])
                after = page["next_after"]
                # Done when the writers are and all they wrote has come (another run on the server can
                # hold the horizon a moment longer: an empty page is no proof of the end).
                if finished and not page["results"] and {e["position"] for e in seen} >= set(written):
                    return
        finally:
            connections.close_all()

    reading = threading.Thread(target=read)
    reading.start()
    with writing_transaction_elsewhere():  # holds the horizon for part of the run
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert not seen, "the feed handed out events while an older transaction was open"
    for thread in threads:
        thread.join(60)
    done.set()
    reading.join(60)

    positions = [event["position"] for event in seen]
    assert len(positions) == len(set(positions)), "a position came twice"
    assert sorted(positions) == sorted(written), "a position was lost or invented"
    for stream in streams:
        versions = [event["stream_version"] for event in seen if event["stream_id"] == str(stream)]
        assert versions == list(range(1, 26))
    assert all(event["data"]["amount"] in ("1.00", "12.50") for event in seen)


def test_the_long_poll_answers_when_an_event_commits(make_user: Callable[..., Any], settings: Any) -> None:
    settings.SUBSCRIPTION_FEED_MAX_WAIT = 25.0
    reader = client_for(make_user(Role.MANAGER))
    after = 0
    while page := reader.get("/api/events/", {"after": after, "limit": 1000}).json()["results"]:
        after = page[-1]["position"]

    def write_later() -> None:
        time.sleep(0.6)
        append_payments(1)
        connections.close_all()

    writer = threading.Thread(target=write_later)
    writer.start()
    started = time.monotonic()
    answer = reader.get("/api/events/", {"after": after, "wait": 10}).json()
    writer.join()
    assert len(answer["results"]) == 1 and 0.5 < time.monotonic() - started < 5
    assert f"after={answer['next_after']}" in answer["next"]


def test_customers_may_not_read_the_feed(make_user: Callable[..., Any]) -> None:
    assert client_for(make_user(Role.CUSTOMER)).get("/api/events/").status_code == 403
    assert APIClient().get("/api/events/").status_code in (401, 403)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"wait": "26"}, "wait"),
        ({"after": "999999999"}, "after"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_queries_are_400_naming_the_field(
    make_user: Callable[..., Any], query: dict[str, str], field: str
) -> None:
    answer = client_for(make_user(Role.MANAGER)).get("/api/events/", query)
    assert answer.status_code == 400
    assert field in str(answer.json())
