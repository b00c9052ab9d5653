"""Fan-out from the log: one delivery per (endpoint, event), exactly, whatever runs twice or stays open."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from subscriptions import fanout
from subscriptions.models import Delivery, Endpoint, FanoutCursor
from tests.conftest import run_in_threads
from tests.projections.test_moved import next_transaction_id, restore_a_note
from tests.subscriptions.conftest import append_payments, fan_out_everything

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_endpoint_gets_one_delivery_per_event_it_wants(make_endpoint: Callable[..., Endpoint]) -> None:
    append_payments(3)  # before the endpoints: not theirs
    everything = make_endpoint()
    notes_only = make_endpoint(event_types=["OrderNoteAdded"])
    positions = append_payments(5)

    fan_out_everything(batch_size=2)

    assert sorted(everything.deliveries.values_list("position", flat=True)) == positions
    assert not notes_only.deliveries.exists()
    assert FanoutCursor.objects.get(endpoint=notes_only).position == positions[-1]  # read, none wanted


def test_fan_out_run_many_times_at_once_inserts_every_delivery_once(
    make_endpoint: Callable[..., Endpoint],
) -> None:
    endpoints = [make_endpoint() for _ in range(3)]
    positions = append_payments(60, per_transaction=3)

    run_in_threads(lambda i: fanout.fan_out(batch_size=7), 6)
    fan_out_everything(batch_size=7)  # whatever a busy skip left

    for endpoint in endpoints:
        assert sorted(endpoint.deliveries.values_list("position", flat=True)) == positions
        assert FanoutCursor.objects.get(endpoint=endpoint).events_read == 60  # each event read once

    # A cursor moved back (a restore, an operator) reads again and inserts nothing twice.
    FanoutCursor.objects.filter(endpoint=endpoints[0]).update(transaction_id=0, position=0)
    assert fan_out_everything(batch_size=1000) == 0
    assert Delivery.objects.count() == 180


def test_an_event_committed_late_with_a_lower_position_is_not_skipped(
    make_endpoint: Callable[..., Endpoint],
) -> None:
    endpoint = make_endpoint()
    appended, release = threading.Event(), threading.Event()
    early: list[int] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                early.extend(append_payments(1))  # takes the lower position, commits last
                appended.set()
                release.wait(30)
        finally:
            connections.close_all()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert appended.wait(30)
    late = append_payments(2)
    assert late[0] > early[0]

    fanout.fan_out(batch_size=100)
    assert not endpoint.deliveries.exists(), "read past a transaction still open"

    release.set()
    writer.join(30)
    fan_out_everything(batch_size=100)
    assert sorted(endpoint.deliveries.values_list("position", flat=True)) == sorted(early + late)


def test_paused_endpoints_keep_their_cursor_and_catch_up_when_resumed(
    make_endpoint: Callable[..., Endpoint], settings: Any
) -> None:
    endpoint = make_endpoint(state=Endpoint.State.PAUSED)
    positions = append_payments(4)
    fanout.fan_out(batch_size=100)
    assert not endpoint.deliveries.exists()

    Endpoint.objects.filter(pk=endpoint.pk).update(state=Endpoint.State.ACTIVE)
    fan_out_everything(batch_size=100)
    assert sorted(endpoint.deliveries.values_list("position", flat=True)) == positions


def test_after_a_move_to_another_cluster_the_fan_out_waits_for_the_re_base_and_loses_nothing(
    make_endpoint: Callable[..., Endpoint], placed_order: Callable[..., Any]
) -> None:
    endpoint = make_endpoint(event_types=["OrderNoteAdded", "OrderPlaced"])
    order_id = placed_order()
    restored = next_transaction_id() + 3000  # an event as pg_restore brought it from the old cluster
    restore_a_note(order_id, restored)

    assert fanout.fan_out(batch_size=100) == 0  # refused: reading now would skip what commits next
    assert not endpoint.deliveries.exists()

    call_command("rebase_projections", stdout=io.StringIO())
    newest = placed_order()  # commits after the re-base: sorts after the restored event
    fan_out_everything(batch_size=100)

    kinds = list(endpoint.deliveries.order_by("position").values_list("stream_id", "event_type"))
    assert kinds == [(order_id, "OrderPlaced"), (order_id, "OrderNoteAdded"), (newest, "OrderPlaced")]
