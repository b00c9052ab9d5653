"""Commands per second through the bus: ``dispatch`` with RBAC and an Idempotency-Key record, at 16 writers
(2 processes of 8 threads, see ``bench.load``).

Each writer drives its own orders through create → add line → place → pay → ship → deliver, as the
customer (the first three) and a manager (the rest); see ``bench.workload.OrderJourney``.
"""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections

from bench.load import MakeWorker, Work, measure
from bench.phases import Params
from bench.workload import OrderJourney


def journeys(fixtures: dict[str, Any], *, seed: int = 1) -> MakeWorker:
    def make(i: int) -> tuple[Work, Any]:
        users = get_user_model().objects
        customer_ids = fixtures["customer_ids"]
        journey = OrderJourney(
            customer=users.get(pk=customer_ids[i % len(customer_ids)]),
            staff=users.get(pk=fixtures["manager_id"]),
            skus=fixtures["skus"],
            rng=random.Random(seed * 1000 + i),  # noqa: S311  # nosec B311  # workload, not secrets
        )
        return journey.run_one, connections.close_all

    return make


def run(params: Params) -> dict[str, Any]:
    measured = measure(
        params.get("threads", 16),
        params.get("seconds", 8.0),
        journeys(params["fixtures"]),
        processes=params.get("processes", 2),
        before_fork=connections.close_all,
    )
    result = measured.as_dict()
    result["commands_per_s"] = result.pop("operations_per_s")
    result["commands"] = result.pop("operations")
    return result
