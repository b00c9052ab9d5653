"""Webhook figures against their targets, measured by the bench's ``webhooks`` phase
(bench/phases/webhooks.py) on the test database; skipped unless WEBHOOK_BENCH is set (``make bench
BENCH_ARGS="--only webhooks"`` measures the same into bench/results/ with production settings)."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from bench.phases import webhooks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("WEBHOOK_BENCH"), reason="figures: make bench"),
]


def _env() -> dict[str, str]:
    """The processes started read this test's database, with the test settings (loopback receivers)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
    }


def test_latency_at_200_events_per_second() -> None:
    figures = webhooks.latency(rate=200, seconds=20, env=_env())
    print(figures)  # the figures, for the record
    assert figures["bad_signatures"] == 0
    assert figures["p95_s"] <= 1.0 and figures["p99_s"] <= 3.0


def test_deliveries_per_second_of_one_sender() -> None:
    figures = webhooks.throughput(events=2500, env=_env())
    print(figures)
    assert figures["bad_signatures"] == 0 and figures["deliveries_per_s"] >= 300


def test_one_endpoint_timing_out_leaves_the_others_fast() -> None:
    figures = webhooks.isolation(rate=50, seconds=20, env=_env())
    print(figures)
    assert figures["slow_attempted"] > 0 and figures["p95_s"] <= 1.5
