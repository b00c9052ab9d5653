"""The seed phase's CPU accounting (bench/cpu.py) charges a process's CPU to its tier."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import cpu

BUSY_THEN_IDLE = (
    "import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ntime.sleep(30)"
)


def test_a_load_generators_cpu_is_charged_to_its_tier() -> None:
    before = cpu.sample()
    # "locust" in the command line makes it the load generator's tier, as Locust's own processes are.
    burner = subprocess.Popen([sys.executable, "-c", BUSY_THEN_IDLE, "locust"])
    try:
        time.sleep(1.5)
        after = cpu.sample()
    finally:
        burner.kill()
        burner.wait()
    spent = cpu.spent(before, after, seconds=1.5, requests=100)
    per_request = spent["ms_per_request"]
    assert isinstance(per_request, dict)
    assert per_request["loadgen"] >= 5.0  # 0.6 s over 100 requests is 6 ms each
    assert spent["busy_share"] is not None and 0 < spent["busy_share"] <= 1


def test_no_requests_gives_no_per_request_figures() -> None:
    sample = cpu.sample()
    spent = cpu.spent(sample, sample, seconds=1.0, requests=0)
    assert spent["ms_per_request"] == {} and spent["busy_ms_per_request"] is None
