"""The seed's table reproduced: 10,000 concurrent people on one node, stepped to find the capacity.

Each step is one Locust run (``bench/locust_crowd.py``: shoppers and staff with think time, 80 % reads)
against a node started for this phase with the production throttles (not the raised ones of the
closed-loop phases: people with think time stay far below them) and the connection and file limits of
docs/deployment.md. After each step the node's memory (PSS) is read; where the step's CPU went comes
with every Locust run (``bench.http.run_locust``, ``bench/cpu.py``). The capacity at the SLO is the
largest user count whose mean latency stays within it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.http import run_locust
from bench.node import Node

LOCUSTFILE = Path(__file__).resolve().parent / "locust_crowd.py"
SLO_MEAN_MS = 34.0


def run(
    *,
    env: dict[str, str],
    scratch: Path,
    fixtures: Path,
    steps: tuple[int, ...],
    seconds: float,
    spawn_rate: float,
    think_s: float,
) -> dict[str, Any]:
    folder = scratch / "seed"
    folder.mkdir(exist_ok=True)
    node = Node(env=env, scratch=folder)
    node.start()
    results: dict[str, Any] = {"think_s": think_s, "seconds": seconds, "spawn_rate": spawn_rate, "steps": {}}
    try:
        for users in steps:
            print(f"  {users} users", flush=True)
            started = time.monotonic()
            step = run_locust(
                url=node.url,
                scenario="crowd",
                users=users,
                seconds=seconds,
                scratch=folder,
                fixtures=fixtures,
                locustfile=LOCUSTFILE,
                classes=["Shopper", "Staff"],
                spawn_rate=spawn_rate,
                env={"CROWD_THINK_S": str(think_s)},
            )
            step["wall_s"] = time.monotonic() - started
            step["memory"] = node.memory()
            results["steps"][str(users)] = step
            (folder / "steps.json").write_text(json.dumps(results, indent=2, default=str))
    finally:
        node.stop()
    results["capacity_at_slo"] = capacity(results["steps"])
    return results


def capacity(steps: dict[str, Any], slo_ms: float = SLO_MEAN_MS) -> int | None:
    """The largest user count whose mean stays within the SLO, without failures."""
    within = [
        int(users)
        for users, step in steps.items()
        if step["all"]["mean"] <= slo_ms and step["all"]["failures"] == 0
    ]
    return max(within, default=None)
