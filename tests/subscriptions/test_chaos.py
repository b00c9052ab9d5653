"""Chaos: fan-out and sender processes SIGKILLed at random while events commit and secrets rotate.
Nothing is lost, nothing invented, every signature verifies, and every duplicate is a resend."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from subscriptions.models import Endpoint
from tests.subscriptions.chaos import as_dict, run_chaos
from tests.subscriptions.receiver import Receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


def check(report_dict: dict[str, object]) -> None:
    print(json.dumps(report_dict))  # the figures, for the record
    assert report_dict["lost"] == 0
    assert report_dict["phantoms"] == 0
    assert report_dict["duplicates_unexplained"] == 0
    assert report_dict["bad_signatures"] == 0


def test_killed_processes_lose_no_delivery(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    report = run_chaos(
        receiver=receiver,
        make_endpoint=make_endpoint,
        events=400,
        endpoints=4,
        kills=6,
        kill_every=2.0,
        timeout=90,
    )
    check(as_dict(report))


@pytest.mark.skipif(not os.environ.get("WEBHOOK_CHAOS_FULL"), reason="the full run: make webhook-chaos")
def test_full_chaos_10000_events_20_endpoints_20_kills(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint]
) -> None:
    report = run_chaos(
        receiver=receiver,
        make_endpoint=make_endpoint,
        events=10_000,
        endpoints=20,
        kills=20,
        kill_every=10,
        timeout=1800,
    )
    check(as_dict(report))
