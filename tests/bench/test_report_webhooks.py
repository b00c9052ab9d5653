"""The bench report judges the webhooks phase's figures against their targets, like every other phase."""

from __future__ import annotations

from typing import Any

from bench import report

ROWS = {
    "p95": "webhooks: commit → first attempt p95 at 200 events/s",
    "p99": "webhooks: commit → first attempt p99 at 200 events/s",
    "throughput": "webhooks: deliveries/s of one sender process",
    "isolation": "webhooks: the others' p95 while one endpoint times out",
}


def results(*, p95: float, p99: float, rate: float, achieved: float, isolation_p95: float) -> dict[str, Any]:
    latency = {"p50_s": 0.05, "p95_s": p95, "p99_s": p99, "deliveries": 4000, "bad_signatures": 0}
    return {
        "webhooks": {
            "latency": {**latency, "target_rate": 200.0, "achieved_rate": achieved},
            "throughput": {
                "deliveries": 10000,
                "seconds": 10000 / rate,
                "deliveries_per_s": rate,
                "sender_threads": 32,
                "bad_signatures": 0,
            },
            "isolation": {
                **latency,
                "p95_s": isolation_p95,
                "target_rate": 50.0,
                "achieved_rate": 50.0,
                "slow_attempted": 12,
            },
            "read_timeout_s": 10.0,
        }
    }


def verdicts(r: dict[str, Any]) -> dict[str, bool | None]:
    by_title = {check.what: check.met for check in report.checks(r)}
    return {key: by_title.get(title) for key, title in ROWS.items()}


def test_figures_within_the_targets_are_met() -> None:
    r = results(p95=0.4, p99=1.2, rate=550.0, achieved=199.0, isolation_p95=0.8)
    assert verdicts(r) == {"p95": True, "p99": True, "throughput": True, "isolation": True}
    text = report.markdown(r)
    assert "**Webhooks**" in text and "550 deliveries/s" in text and "0 bad signatures" in text


def test_figures_beyond_the_targets_are_not() -> None:
    r = results(p95=1.2, p99=3.5, rate=250.0, achieved=199.0, isolation_p95=1.6)
    assert verdicts(r) == {"p95": False, "p99": False, "throughput": False, "isolation": False}


def test_a_latency_at_a_rate_not_kept_up_does_not_count() -> None:
    r = results(p95=0.4, p99=1.2, rate=550.0, achieved=120.0, isolation_p95=0.8)
    assert verdicts(r)["p95"] is False  # a slower writer makes a smaller latency


def test_a_run_without_the_phase_says_not_measured() -> None:
    assert verdicts({}) == {"p95": None, "p99": None, "throughput": None, "isolation": None}
