"""Idempotency-Key on writes (SPEC §6): replay, reuse, in flight, per-user scope, expiry."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from orders import events as e
from orders import store
from orders.models import IdempotencyRecord, StoredEvent
from orders.tasks import expire_idempotency_keys
from tests.conftest import run_in_threads

pytestmark = pytest.mark.django_db


def pay(
    client: APIClient, order: dict[str, Any], key: str | None, amount: str = "5.00", ref: str = "R1"
) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        f"/api/orders/{order['id']}/payments/", {"amount": amount, "reference": ref}, format="json", **headers
    )


def payments() -> int:
    return StoredEvent.objects.filter(event_type="PaymentRecorded").count()


def test_the_same_key_and_request_replays_the_response_and_writes_nothing(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order, finance = new_order(place=True), client_for(users["finance"])
    first = pay(finance, order, "key-1")
    again = pay(finance, order, "key-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert again["X-Consistency-Token"] == first["X-Consistency-Token"]
    assert payments() == 1
    # Without a key, the same request is a new command (a different reference to make it legal).
    assert pay(finance, order, None, ref="R2").status_code == 200
    assert payments() == 2


def test_the_same_key_with_another_request_is_refused(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order, finance = new_order(place=True), client_for(users["finance"])
    assert pay(finance, order, "key-2").status_code == 200
    reused = pay(finance, order, "key-2", amount="6.00", ref="R9")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert payments() == 1


def test_keys_are_per_user(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True)
    assert pay(client_for(users["finance"]), order, "shared", ref="A").status_code == 200
    second = pay(client_for(users["manager"]), order, "shared", ref="B")
    assert second.status_code == 200
    assert "Idempotent-Replayed" not in second
    assert payments() == 2


def test_a_rejected_command_does_not_use_up_its_key(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order, finance = new_order(place=False), client_for(users["finance"])
    refused = pay(finance, order, "key-3")  # the order is still a draft
    assert refused.status_code == 409
    assert not IdempotencyRecord.objects.exists()
    client_for(users["customer"]).post(f"/api/orders/{order['id']}/place/", {}, format="json")
    assert pay(finance, order, "key-3").status_code == 200


def test_a_key_longer_than_255_characters_is_refused(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True)
    response = pay(client_for(users["finance"]), order, "k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]
    assert payments() == 0


def test_keys_expire_after_a_day(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order, finance = new_order(place=True), client_for(users["finance"])
    pay(finance, order, "old")
    pay(finance, order, "new", ref="R2")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    assert expire_idempotency_keys() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_while_the_first_request_runs_the_same_key_answers_409(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order, finance = new_order(place=True), client_for(users["finance"])
    holding, release = threading.Event(), threading.Event()
    digest = hashlib.sha256(f"{users['finance'].pk}:in-flight".encode()).digest()

    def first_request_in_flight(_: int) -> None:  # holds the key's lock as a running request does
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )
            holding.set()
            assert release.wait(10)

    holder = threading.Thread(target=lambda: run_in_threads(first_request_in_flight, 1))
    holder.start()
    assert holding.wait(10)
    try:
        busy = pay(finance, order, "in-flight")
    finally:
        release.set()
        holder.join(10)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    assert payments() == 0
    assert pay(finance, order, "in-flight").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_execute_exactly_once(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order = new_order(place=True)
    clients = [client_for(users["finance"]) for _ in range(8)]

    responses = run_in_threads(lambda i: pay(clients[i], order, "race"), 8)

    assert not [r for r in responses if isinstance(r, BaseException)], responses
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}
    executed = [r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r]
    assert len(executed) == 1
    assert payments() == 1


def commands_counted(command: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("commands_total", {"command": command, "outcome": outcome}) or 0.0


def test_a_replay_is_counted_as_replayed_not_as_a_command_run(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    order, finance = new_order(place=True), client_for(users["finance"])
    ran, replayed = commands_counted("RecordPayment", "ok"), commands_counted("RecordPayment", "replayed")

    assert pay(finance, order, "counted").status_code == 200
    assert pay(finance, order, "counted").status_code == 200

    assert commands_counted("RecordPayment", "ok") == ran + 1
    assert commands_counted("RecordPayment", "replayed") == replayed + 1


@pytest.mark.django_db(transaction=True)
def test_a_keyed_request_that_loses_a_race_is_retried_and_remembered_once(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], new_order: Callable[..., dict]
) -> None:
    """A rival takes the order's next version while the keyed payment decides; the bus retries the
    whole transaction, key included, and the retry's response is the one stored."""
    order, finance = new_order(place=True), client_for(users["finance"])
    rival_appended, note = threading.Event(), e.OrderNoteAdded(note_id=99, text="rival")

    def race(i: int) -> Any:
        if i == 0:  # the rival: holds the next version uncommitted for a moment
            with transaction.atomic():
                store.append(UUID(order["id"]), order["version"], [note])
                rival_appended.set()
                time.sleep(0.5)
            return "rival"
        assert rival_appended.wait(10)
        return pay(finance, order, "raced")

    rival, paid = run_in_threads(race, 2)

    assert rival == "rival"
    assert paid.status_code == 200, paid.json()
    assert paid.json()["version"] == order["version"] + 2  # after the rival's note
    assert payments() == 1
    record = IdempotencyRecord.objects.get(key="raced")
    assert record.response_body == paid.json()
    replay = pay(finance, order, "raced")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == paid.json()
