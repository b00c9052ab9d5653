"""Wait until the projections have caught up with the log; answer a sample of readable order ids."""

from __future__ import annotations

import random
import time
from typing import Any

from bench.phases import Params
from projections import runner
from projections.models import OrderSummary
from projections.projectors import PROJECTORS


def run(params: Params) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + params.get("timeout", 120)
    while params.get("wait", True) and any(runner.has_pending(name) for name in PROJECTORS):
        if time.monotonic() > deadline:
            raise TimeoutError("the projections did not catch up; is the Celery worker running?")
        time.sleep(0.2)
    ids = [str(pk) for pk in OrderSummary.objects.values_list("id", flat=True)[: params.get("limit", 5000)]]
    rng = random.Random(8)  # noqa: S311  # nosec B311  # a sample, not a secret
    return {
        "order_ids": rng.sample(ids, min(len(ids), params.get("sample", 1000))),
        "waited_s": time.monotonic() - started,
    }
