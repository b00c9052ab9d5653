"""The bench's results as JSON, a Markdown summary and a latency plot; medians of several runs.

``python -m bench.report median A.json B.json`` merges runs (the median of every number) and writes
them like one run; ``python -m bench.report readme`` puts ``latest.md`` into README.md between its
bench markers.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
SCENARIO_TITLES = {
    "healthz": "GET /healthz (framework baseline)",
    "read_detail": "GET /api/orders/{id}/",
    "peer_detail": "GET /api/orders/{id}/ by the book (DRF peer)",
    "read_list": "GET /api/orders/?limit=20",
    "write": "writes: create, add line, place",
}


@dataclass(frozen=True)
class Check:
    what: str
    target: str
    value: float | None
    unit: str
    met: bool | None
    note: str = ""


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _check(
    what: str, target: str, value: Any, unit: str, ok: Callable[[float], bool], note: str = ""
) -> Check:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Check(what, target, None, unit, None, note or "not measured")
    return Check(what, target, float(value), unit, ok(float(value)), note)


def checks(r: dict[str, Any]) -> list[Check]:
    """SPEC §9, target by target."""
    single16 = _get(r, "append", "single", "16") or {}
    raw16 = _get(single16, "raw", "events_per_s")
    store16 = _get(single16, "store", "events_per_s")
    batched = _get(r, "append", "batched") or {}
    best_batched = max(batched.items(), key=lambda kv: kv[1]["store"]["events_per_s"], default=None)
    rebuilt = _get(r, "rebuild", "projections") or {}
    slowest = min(rebuilt.items(), key=lambda kv: kv[1]["events_per_s"], default=None)
    write32 = _get(r, "http", "write", "32", "all") or {}
    result = [
        _check(
            "append, 1 event/txn, 16 writers, ÷ raw psycopg",
            "≥ 0.75",
            store16 / raw16 if store16 and raw16 else None,
            "x",
            lambda v: v >= 0.75,
            f"{store16:,.0f} vs {raw16:,.0f} events/s" if store16 and raw16 else "",
        ),
        _check(
            "append, 16 writers, group commit",
            "≥ 3,200 events/s",
            _get(single16, "group_commit", "events_per_s"),
            "events/s",
            lambda v: v >= 3200,
        ),
        _check(
            "batched append, 100 events/txn",
            "≥ 30,000 events/s",
            best_batched[1]["store"]["events_per_s"] if best_batched else None,
            "events/s",
            lambda v: v >= 30000,
            f"best at {best_batched[0]} writers" if best_batched else "",
        ),
        _check(
            "command bus, 16 writers",
            "≥ 1,000 commands/s",
            _get(r, "bus", "commands_per_s"),
            "cmd/s",
            lambda v: v >= 1000,
        ),
        _check("HTTP writes, 32 clients: mean", "≤ 34 ms", write32.get("mean"), "ms", lambda v: v <= 34),
        _check("HTTP writes, 32 clients: p99", "≤ 150 ms", write32.get("p99"), "ms", lambda v: v <= 150),
    ]
    for scenario in ("read_detail", "read_list"):
        reads = _get(r, "http", scenario, "32", "all") or {}
        title = SCENARIO_TITLES[scenario]
        result.append(
            _check(f"{title}, 32 clients: mean", "≤ 10 ms", reads.get("mean"), "ms", lambda v: v <= 10)
        )
        result.append(
            _check(f"{title}, 32 clients", "≥ 1,500 req/s", reads.get("rps"), "req/s", lambda v: v >= 1500)
        )
    result += _ratio_checks(r) + _seed_checks(r) + _webhook_checks(r)
    lag = _get(r, "lag") or {}
    # The figure only counts if the writers kept up the rate: a slower write rate makes a smaller lag.
    kept_up = lag.get("achieved_rate", 0) >= 0.95 * lag.get("target_rate", 300)
    rate_note = f"writing at {lag['achieved_rate']:.0f} commands/s" if lag.get("achieved_rate") else ""
    result += [
        _check(
            f"projection lag p95 at {lag.get('target_rate', 300):.0f} commands/s",
            "≤ 250 ms",
            _get(lag, "order_summary_lag_ms", "p95"),
            "ms",
            lambda v: v <= 250 and kept_up,
            rate_note + ("" if kept_up else ", short of the rate"),
        ),
        _check(
            "projection rebuild (slowest projection)",
            "≥ 20,000 events/s",
            slowest[1]["events_per_s"] if slowest else None,
            "events/s",
            lambda v: v >= 20000,
            slowest[0] if slowest else "",
        ),
        _check(
            "memory: one web worker (RSS)",
            "≤ 120 MB",
            _get(r, "memory", "web_worker_rss_mb"),
            "MB",
            lambda v: v <= 120,
        ),
        _check(
            "memory: one Celery worker process (RSS)",
            "≤ 120 MB",
            _get(r, "memory", "celery_worker_rss_mb"),
            "MB",
            lambda v: v <= 120,
        ),
        _check(
            "memory: node, 2 web + 2 worker + beat (PSS sum)",
            "≤ 410 MB",
            _get(r, "memory", "node_pss_mb"),
            "MB",
            lambda v: v <= 410,
            f"RSS sum {_get(r, 'memory', 'node_rss_mb'):.0f} MB" if _get(r, "memory", "node_rss_mb") else "",
        ),
    ]
    return result


def _ratio(a: Any, b: Any) -> float | None:
    if not a or not b or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return None
    return float(a) / float(b)


def _ratio_checks(r: dict[str, Any]) -> list[Check]:
    """The HTTP figures against baselines measured in the same run: a ratio moves less with the machine."""
    health = _get(r, "http", "healthz", "32", "all") or {}
    detail = _get(r, "http", "read_detail", "32", "all") or {}
    listed = _get(r, "http", "read_list", "32", "all") or {}
    peer = _get(r, "http", "peer_detail", "32", "all") or {}
    write = _get(r, "http", "write", "32", "all") or {}
    bus = _get(r, "bus", "commands_per_s")
    return [
        _check(
            "GET /api/orders/{id}/, 32 clients: req/s ÷ /healthz req/s",
            "≥ 0.75",
            _ratio(detail.get("rps"), health.get("rps")),
            "x",
            lambda v: v >= 0.75,
        ),
        _check(
            "GET /api/orders/{id}/, 32 clients: mean ÷ /healthz mean",
            "≤ 1.4",
            _ratio(detail.get("mean"), health.get("mean")),
            "x",
            lambda v: v <= 1.4,
            f"{_n(detail.get('mean'), 1)} vs {_n(health.get('mean'), 1)} ms" if detail and health else "",
        ),
        _check(
            "GET /api/orders/?limit=20, 32 clients: req/s ÷ /healthz req/s",
            "≥ 0.5",
            _ratio(listed.get("rps"), health.get("rps")),
            "x",
            lambda v: v >= 0.5,
        ),
        _check(
            "GET /api/orders/{id}/, 32 clients: req/s ÷ the by-the-book DRF peer",
            "≥ 2",
            _ratio(detail.get("rps"), peer.get("rps")),
            "x",
            lambda v: v >= 2,
        ),
        _check(
            "HTTP writes, 32 clients: req/s ÷ command bus cmd/s",
            "≥ 0.5",
            _ratio(write.get("rps"), bus),
            "x",
            lambda v: v >= 0.5,
        ),
    ]


SEED_USERS = "10000"


def _seed_checks(r: dict[str, Any]) -> list[Check]:
    seed = r.get("seed") or {}
    at = _get(seed, "steps", SEED_USERS) or {}
    figures = at.get("all") or {}
    pss = _get(at, "memory", "node_pss_mb")
    capacity = seed.get("capacity_at_slo")
    return [
        _check("seed table, 10,000 users: mean", "≤ 34 ms", figures.get("mean"), "ms", lambda v: v <= 34),
        _check("seed table, 10,000 users: p99", "≤ 150 ms", figures.get("p99"), "ms", lambda v: v <= 150),
        _check("seed table, 10,000 users: failures", "0", figures.get("failures"), "", lambda v: v == 0),
        _check("seed table, 10,000 users: node memory (PSS)", "≤ 410 MB", pss, "MB", lambda v: v <= 410),
        _check(
            "seed table: capacity at mean ≤ 34 ms",
            "≥ 10,000 users",
            capacity if seed else None,
            "users",
            lambda v: v >= 10_000,
            "" if capacity is not None or not seed else "no step within the SLO",
        ),
    ]


def _webhook_checks(r: dict[str, Any]) -> list[Check]:
    """Webhooks (bench/phases/webhooks.py): a latency only counts if the writer kept up the rate."""
    latency = _get(r, "webhooks", "latency") or {}
    isolation = _get(r, "webhooks", "isolation") or {}

    def rate(figures: dict[str, Any]) -> tuple[bool, str]:
        achieved, target = figures.get("achieved_rate"), figures.get("target_rate")
        if not achieved or not target:
            return True, ""
        kept_up = achieved >= 0.95 * target
        return kept_up, f"writing at {achieved:.0f} events/s" + ("" if kept_up else ", short of the rate")

    latency_ok, latency_note = rate(latency)
    isolation_ok, isolation_note = rate(isolation)
    timeout = _get(r, "webhooks", "read_timeout_s")
    notes = [f"the 5th endpoint times out after {timeout:.0f} s"] if timeout else []
    isolation_note = ", ".join(notes + ([isolation_note] if isolation_note else []))
    return [
        _check(
            f"webhooks: commit → first attempt p95 at {latency.get('target_rate', 200):.0f} events/s",
            "≤ 1 s",
            latency.get("p95_s"),
            "s",
            lambda v: v <= 1.0 and latency_ok,
            latency_note,
        ),
        _check(
            f"webhooks: commit → first attempt p99 at {latency.get('target_rate', 200):.0f} events/s",
            "≤ 3 s",
            latency.get("p99_s"),
            "s",
            lambda v: v <= 3.0 and latency_ok,
        ),
        _check(
            "webhooks: deliveries/s of one sender process",
            "≥ 300 deliveries/s",
            _get(r, "webhooks", "throughput", "deliveries_per_s"),
            "deliveries/s",
            lambda v: v >= 300,
            f"{_get(r, 'webhooks', 'throughput', 'sender_threads')} threads"
            if _get(r, "webhooks", "throughput", "sender_threads")
            else "",
        ),
        _check(
            "webhooks: the others' p95 while one endpoint times out",
            "≤ 1.5 s",
            isolation.get("p95_s"),
            "s",
            lambda v: v <= 1.5 and isolation_ok,
            isolation_note,
        ),
    ]


def _n(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _runs_list(runs: list[dict[str, Any]] | None) -> list[str]:
    """Which run measured what: each figure is the median of the runs that measured its phase."""
    if not runs:
        return []
    lines = ["Each figure is the median of the runs that measured its phase:", ""]
    for run in runs:
        phases = ", ".join(run.get("phases") or []) or "?"
        lines.append(f"- {run.get('date', '?')}, commit {run.get('commit', '?')}: {phases}")
    return [*lines, ""]


def markdown(r: dict[str, Any]) -> str:
    env = r.get("environment", {})
    runs = env.get("runs")
    lines = [
        f"### Benchmark {env.get('date', '')}" + (f" (median of {len(runs)} runs)" if runs else ""),
        "",
        *_runs_list(runs),
        f"Commit {env.get('commit', '?')}{' + local changes' if env.get('dirty') else ''}, "
        f"Python {env.get('python', '?')}, {env.get('cpus', '?')} CPUs, load average before "
        f"{_n((env.get('loadavg_before') or [None])[0], 2)}"
        + (" — **quick sizes, not for comparison**" if env.get("quick") else "")
        + ".",
        "",
        "| SPEC §9 | target | result | met |",
        "|---|---|---|---|",
    ]
    for c in checks(r):
        digits = 2 if c.unit in ("x", "s") else 0
        met = "-" if c.met is None else ("yes" if c.met else "**no**")
        note = f" ({c.note})" if c.note else ""
        lines.append(f"| {c.what} | {c.target} | {_n(c.value, digits)} {c.unit}{note} | {met} |")
    lines += _append_tables(r) + _bus_table(r) + _http_table(r) + _peer_table(r) + _seed_table(r)
    lines += _projection_tables(r) + _webhooks_table(r) + _memory_table(r)
    for phase, error in (r.get("errors") or {}).items():
        lines += ["", f"**{phase} failed:** {error.splitlines()[0] if error else ''}"]
    return "\n".join(lines) + "\n"


def _append_tables(r: dict[str, Any]) -> list[str]:
    if not r.get("append"):
        return []
    single = _get(r, "append", "single") or {}
    lines = [
        "",
        "**Append, one event per transaction** (events/s; each writer its own streams; "
        "writers in up to 2 processes)",
        "",
        "| writers | raw psycopg | store.append | ÷ raw | eventsourcing | group commit | events/txn |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, row in single.items():
        raw, store = row["raw"]["events_per_s"], row["store"]["events_per_s"]
        group = row["group_commit"]
        lines.append(
            f"| {n} | {_n(raw)} | {_n(store)} | {_n(store / raw, 2)} "
            f"| {_n(row['eventsourcing']['events_per_s'])} "
            f"| {_n(group['events_per_s'])} | {_n(group.get('events_per_transaction'), 1)} |"
        )
    if single:
        most, row = max(single.items(), key=lambda kv: int(kv[0]))
        cpu = ", ".join(
            f"{label} {_n(_get(row, key, 'cpu_us_per_event'))}"
            for key, label in [
                ("raw", "raw psycopg"),
                ("store", "store.append"),
                ("eventsourcing", "eventsourcing"),
                ("group_commit", "group commit"),
            ]
        )
        lines += ["", f"Writer processes' CPU per event at {most} writers (µs, user + system): {cpu}."]
    batched = _get(r, "append", "batched") or {}
    size = _get(r, "append", "batch_size")
    lines += [
        "",
        f"**Batched append, {size} events per transaction** (events/s)",
        "",
        "| writers | raw psycopg (executemany) | store.append | ÷ raw | eventsourcing |",
        "|---|---|---|---|---|",
    ]
    for n, row in batched.items():
        raw, store = row["raw"]["events_per_s"], row["store"]["events_per_s"]
        lines.append(
            f"| {n} | {_n(raw)} | {_n(store)} | {_n(store / raw, 2)} "
            f"| {_n(row['eventsourcing']['events_per_s'])} |"
        )
    errors = sum(v.get("errors", 0) for row in single.values() for v in row.values() if isinstance(v, dict))
    if errors:
        lines += ["", f"Append errors: {errors}."]
    return lines


def _bus_table(r: dict[str, Any]) -> list[str]:
    bus = r.get("bus")
    if not bus:
        return []
    return [
        "",
        f"**Command bus**, {bus['threads']} writers in {bus.get('processes', 1)} processes, dispatch with "
        "RBAC and an Idempotency-Key record, orders taken from creation to delivery: "
        f"{_n(bus['commands_per_s'])} commands/s, {_n(bus['events_per_s'])} events/s"
        f" ({bus['errors']} errors); the writer processes' CPU "
        f"{_n(bus.get('cpu_us_per_operation'))} µs per command.",
    ]


def _http_table(r: dict[str, Any]) -> list[str]:
    http = r.get("http") or {}
    if not http:
        return []
    lines = [
        "",
        "**HTTP** (gunicorn with config/gunicorn.py, Locust closed loop, no think time; ms)",
        "",
        "| scenario | clients | req/s | mean | p50 | p95 | p99 | failures | Locust CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, runs in http.items():
        for users, run in runs.items():
            a = run["all"]
            lines.append(
                f"| {SCENARIO_TITLES.get(scenario, scenario)} | {users} | {_n(a['rps'])} "
                f"| {_n(a['mean'], 1)} "
                f"| {_n(a['p50'])} | {_n(a['p95'])} | {_n(a['p99'])} | {_n(a['failures'])} "
                f"| {_n(run.get('loadgen_cpu_s'), 1)} |"
            )
    measured = [
        (f"{SCENARIO_TITLES.get(scenario, scenario)} | {users}", run["cpu"])
        for scenario, runs in http.items()
        for users, run in runs.items()
        if run.get("cpu")
    ]
    return lines + _cpu_table("scenario | clients", measured)


def _peer_table(r: dict[str, Any]) -> list[str]:
    ours, peer = _get(r, "http", "read_detail") or {}, _get(r, "http", "peer_detail") or {}
    if not ours or not peer:
        return []
    lines = [
        "",
        "**Order detail against the by-the-book DRF endpoint** (bench/peer.py; req/s, same run)",
        "",
        "| clients | ours | by the book | ratio |",
        "|---|---|---|---|",
    ]
    for users in ours:
        a, b = _get(ours, users, "all", "rps"), _get(peer, users, "all", "rps")
        lines.append(f"| {users} | {_n(a)} | {_n(b)} | {_n(_ratio(a, b), 2)} |")
    return lines


def _seed_table(r: dict[str, Any]) -> list[str]:
    seed = r.get("seed") or {}
    if not seed.get("steps"):
        return []
    lines = [
        "",
        f"**The seed's table**: people with think time (exponential, mean {_n(seed.get('think_s'))} s; about "
        "80 % reads, 20 % commands through the lifecycle), one node (gunicorn, Celery worker, beat; "
        f"production settings and throttles), {_n(seed.get('seconds'))} s per step after ramp-up; ms. "
        f"Capacity at mean ≤ 34 ms: **{_n(seed.get('capacity_at_slo'))} users**.",
        "",
        "| users | req/s | mean | p50 | p95 | p99 | failures | node PSS MB | Locust CPU (of a core) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for users, step in seed["steps"].items():
        a = step["all"]
        lines.append(
            f"| {users} | {_n(a['rps'])} | {_n(a['mean'], 1)} | {_n(a['p50'])} | {_n(a['p95'])} "
            f"| {_n(a['p99'])} | {_n(a['failures'])} | {_n(_get(step, 'memory', 'node_pss_mb'))} "
            f"| {_n(100 * (step.get('loadgen_cpu_share') or 0))} % |"
        )
    measured = [(users, step["cpu"]) for users, step in seed["steps"].items() if step.get("cpu")]
    return lines + _cpu_table("users", measured)


def _cpu_table(heading: str, measured: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Where each run's CPU went (bench/cpu.py): the machine's busy share of all its cores and the CPU
    per request of each tier. On a machine whose cores are all busy, this is what sets the throughput."""
    if not measured:
        return []
    tiers = ("web", "worker", "postgres", "redis", "loadgen", "other")
    columns = heading.count("|") + 1
    lines = [
        "",
        "Where the CPU went in each measured window (ms of CPU per request; busy: of all the machine's "
        "cores):",
        "",
        f"| {heading} | busy | all | " + " | ".join(tiers) + " |",
        "|---" * (columns + 2 + len(tiers)) + "|",
    ]
    for label, c in measured:
        per = c.get("ms_per_request") or {}
        lines.append(
            f"| {label} | {_n(100 * (c.get('busy_share') or 0))} % | {_n(c.get('busy_ms_per_request'), 1)} | "
            + " | ".join(_n(per.get(tier), 1) for tier in tiers)
            + " |"
        )
    return lines


def plot_seed(r: dict[str, Any], path: Path) -> None:
    """Latency against concurrent users, with the 34 ms mean the seed claims."""
    steps = _get(r, "seed", "steps") or {}
    if not steps:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    users = sorted(int(u) for u in steps)
    figure, axis = plt.subplots(figsize=(6, 3.8))
    for key, style in (("mean", "s-"), ("p50", "o--"), ("p95", "^-"), ("p99", "v-")):
        axis.plot(users, [steps[str(u)]["all"][key] for u in users], style, label=key)
    axis.axhline(34, color="red", linestyle=":", label="34 ms (the seed's mean)")
    axis.axvline(10_000, color="grey", linestyle=":", linewidth=0.8)
    capacity = _get(r, "seed", "capacity_at_slo")
    if capacity:
        axis.annotate(f"capacity {capacity:,}", (capacity, 34), textcoords="offset points", xytext=(5, 8))
    axis.set_yscale("log")
    axis.set_xlabel("concurrent users (think time)")
    axis.set_ylabel("latency (ms)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title(f"The seed's table on one node — {r.get('environment', {}).get('date', '')}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _projection_tables(r: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    lag = r.get("lag")
    if lag:
        s, a = lag["order_summary_lag_ms"], lag["all_projections_lag_ms"]
        lines += [
            "",
            f"**Projection lag** while writing at {lag['target_rate']:.0f} commands/s "
            f"(achieved {_n(lag['achieved_rate'])}/s, {lag['commands']} commands, {lag['errors']} errors, "
            f"{lag['unresolved']} never seen): order summary p50 {_n(s['p50'])} ms, p95 {_n(s['p95'])} ms, "
            f"p99 {_n(s['p99'])} ms; all projections p95 {_n(a['p95'])} ms.",
        ]
    rebuild = r.get("rebuild")
    if rebuild:
        parts = ", ".join(f"{name} {_n(p['events_per_s'])}/s" for name, p in rebuild["projections"].items())
        lines += [
            "",
            f"**Rebuild** over {_n(rebuild['generated']['events'])} events (written at "
            f"{_n(rebuild['generated']['events_per_s'])}/s): {parts}; the whole read side "
            f"{_n(rebuild['read_side_events_per_s'])} events/s.",
        ]
    return lines


def _webhooks_table(r: dict[str, Any]) -> list[str]:
    hooks = r.get("webhooks")
    if not hooks:
        return []
    latency, isolation, through = hooks["latency"], hooks["isolation"], hooks["throughput"]
    bad = sum(part.get("bad_signatures", 0) for part in (latency, isolation, through))
    return [
        "",
        "**Webhooks** (a fan-out, a sender and a receiver, each a process of its own; commit → first "
        "attempt, s): "
        f"at {_n(latency['achieved_rate'])} events/s to one endpoint p50 {_n(latency['p50_s'], 2)}, "
        f"p95 {_n(latency['p95_s'], 2)}, p99 {_n(latency['p99_s'], 2)} ({latency['deliveries']} deliveries); "
        f"one sender process ({through['sender_threads']} threads) {_n(through['deliveries_per_s'])} "
        f"deliveries/s over {_n(through['deliveries'])}; with one endpoint timing out "
        f"({_n(hooks.get('read_timeout_s'))} s, {isolation['slow_attempted']} attempts to it), the other "
        f"four at {_n(isolation['achieved_rate'])} events/s p50 {_n(isolation['p50_s'], 2)}, "
        f"p95 {_n(isolation['p95_s'], 2)}, p99 {_n(isolation['p99_s'], 2)}; {bad} bad signatures.",
    ]


def _memory_table(r: dict[str, Any]) -> list[str]:
    memory = r.get("memory")
    if not memory:
        return []
    lines = ["", "**Memory after the run** (MB)", "", "| process | RSS | PSS | USS |", "|---|---|---|---|"]
    for p in memory["processes"]:
        lines.append(f"| {p['role']} | {_n(p['rss_mb'])} | {_n(p['pss_mb'])} | {_n(p['uss_mb'])} |")
    lines.append(f"| **node** | {_n(memory['node_rss_mb'])} | {_n(memory['node_pss_mb'])} | |")
    return lines


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    http = r.get("http") or {}
    if not http:
        return
    figure, axes = plt.subplots(1, max(len(http), 1), figsize=(4 * max(len(http), 1), 3.6), sharey=True)
    axes = axes if hasattr(axes, "__len__") else [axes]
    for axis, (scenario, runs) in zip(axes, http.items(), strict=False):
        clients = [int(users) for users in runs]
        for key, style in (("p50", "o-"), ("mean", "s--"), ("p95", "^-"), ("p99", "v-")):
            axis.plot(clients, [runs[str(c)]["all"][key] for c in clients], style, label=key)
        axis.set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=9)
        axis.set_xscale("log", base=2)
        axis.set_xticks(clients, [str(c) for c in clients])
        axis.set_yscale("log")
        axis.set_xlabel("concurrent clients")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("latency (ms)")
    axes[0].legend(fontsize=8)
    figure.suptitle(f"HTTP latency per concurrency — {r.get('environment', {}).get('date', '')}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: dict[str, Any], directory: Path, stamp: str) -> dict[str, Path]:
    """``<stamp>.json``, ``<stamp>.md``, ``<stamp>.png``, and ``latest.md``/``latest.png`` copies."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / f"{stamp}.json",
        "md": directory / f"{stamp}.md",
        "png": directory / f"{stamp}.png",
    }
    paths["json"].write_text(json.dumps(results, indent=2, default=str) + "\n")
    plot(results, paths["png"])
    if not paths["png"].exists():
        del paths["png"]
    seed_png = directory / f"{stamp}-seed.png"
    plot_seed(results, seed_png)
    if seed_png.exists():
        paths["seed_png"] = seed_png
        shutil.copyfile(seed_png, directory / "latest-seed.png")
    paths["md"].write_text(markdown(results))
    if "png" in paths:
        shutil.copyfile(paths["png"], directory / "latest.png")
    shutil.copyfile(paths["md"], directory / "latest.md")
    return paths


def median(runs: list[Any]) -> Any:
    """The median of every number across the runs that have it (for two runs, their mean); other values
    from the first. A phase run alone (``--only``) joins the median of the full runs it is given with."""
    first = runs[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(key for run in runs if isinstance(run, dict) for key in run))
        return {
            key: median([run[key] for run in runs if isinstance(run, dict) and key in run]) for key in keys
        }
    if isinstance(first, list) and all(isinstance(run, list) and len(run) == len(first) for run in runs):
        return [median([run[i] for run in runs]) for i in range(len(first))]
    if isinstance(first, int | float) and not isinstance(first, bool):
        numbers = [run for run in runs if isinstance(run, int | float) and not isinstance(run, bool)]
        return numbers[0] if len(set(numbers)) == 1 else statistics.median(numbers)
    return first


def update_readme(readme: Path, summary: str) -> None:
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    plots = "![HTTP latency](bench/results/latest.png)\n"
    if (RESULTS / "latest-seed.png").exists():
        plots += "\n![The seed's table: latency against users](bench/results/latest-seed.png)\n"
    readme.write_text(f"{text[:start]}\n{summary}\n{plots}\n{text[end:]}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["median"] and len(argv) >= 3:
        runs = [json.loads(Path(path).read_text()) for path in argv[1:]]
        merged = median(runs)
        merged["environment"]["runs"] = [
            {**run["environment"], "phases": [k for k in run if k not in ("environment", "errors")]}
            for run in runs
        ]
        # A phase that failed in one run but ran in another is in the median; only the rest is an error.
        failed = {k: v for run in runs for k, v in (run.get("errors") or {}).items() if not merged.get(k)}
        merged.pop("errors", None)
        if failed:
            merged["errors"] = failed
        if _get(merged, "seed", "steps"):  # the capacity of the median steps, not a median of capacities
            from bench.crowd import capacity

            merged["seed"]["capacity_at_slo"] = capacity(merged["seed"]["steps"])
        stamp = Path(argv[1]).stem + "-median"
        paths = write(merged, RESULTS, stamp)
        print(paths["md"].read_text())
        return 0
    if argv == ["readme"]:
        update_readme(ROOT / "README.md", (RESULTS / "latest.md").read_text())
        return 0
    print("usage: python -m bench.report median A.json B.json ... | readme", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
