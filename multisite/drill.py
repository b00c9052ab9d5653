"""The multi-site drill: ``python -m multisite.drill`` (``make multisite-drill``).

Two complete sites on loopback (``multisite.stage``), replicating both ways. Writers at both sites
(the pilot-light probe per site, a stock writer per site, a client retrying the other site's commands
at its own), then: quiesce and compare; SIGKILL site A whole under load; measure what B's customers
and A's customers see; adopt A's streams at B; re-join A as a fresh copy of B and list what A had
acknowledged but never replicated; compare again. Prints one JSON document; exits non-zero when a
promise broke (a command applied twice, a replication conflict, a failed command of a B-homed
customer during the loss, a read table that differs, stock oversold).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from multisite import stage
from multisite.load import CrossSiteRetrier, StockWriter
from multisite.stage import Site, say
from standby import postgres
from standby.drill import work_directory
from standby.probe import Api, WriteProbe
from standby.processes import DrillError, free_port, wait_until
from standby.verify import check_event_log

READ_TABLES = {
    "order_summaries": ("projections_ordersummary", "id"),
    "daily_sales": ("projections_dailysales", "day"),
    "customer_stats": ("projections_customerstats", "customer_id"),
}
SKU, ALLOCATION = "DRILL-MUG", 25  # units allocated to each site


@dataclass(frozen=True)
class Options:
    threads: int = 2  # probe writers per site
    warmup: float = 4.0  # seconds of load before the kill
    after: float = 3.0  # seconds of load at B after the kill
    rejoin: bool = True
    link_stall: float = 0.0  # freeze a's sending to b this long before the kill (a stalled link)


@dataclass
class Clients:
    probe: WriteProbe
    stock: StockWriter
    retrier: CrossSiteRetrier  # re-sends this site's acknowledged commands to the other site


def run_drill(workdir: Path, options: Options | None = None) -> dict[str, Any]:
    options = options or Options()
    a, b = stage.new_sites(workdir)
    with ExitStack() as stack:
        try:
            return _drill(a, b, options, stack)
        except Exception as exc:
            tails = "\n".join(
                f"--- {s.name} ({s.log_path}) ---\n{s.log_tail()}" for s in a.services + b.services
            )
            raise DrillError(f"multi-site drill failed: {exc}\n{tails}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _drill(a: Site, b: Site, options: Options, stack: ExitStack) -> dict[str, Any]:
    a.web_port, b.web_port = free_port(), free_port()
    say(f"two sites: a on 127.0.0.1:{a.server.port}, b on 127.0.0.1:{b.server.port}")
    stage.start_database(a, b, stack=stack)
    stage.start_database(b, a, stack=stack)
    _connect(first=a, second=b)
    a.query(
        "INSERT INTO orders_product (sku, name, unit_price, active, stock_on_hand) "
        "VALUES (%s, 'Drill mug', 900, true, %s)",
        [SKU, ALLOCATION],
    )  # the catalogue replicates; the stock column does not: b allocates its own
    wait_until(
        lambda: b.query("SELECT 1 FROM orders_product WHERE sku = %s", [SKU]),
        timeout=30,
        what="the product at b",
    )
    b.query("UPDATE orders_product SET stock_on_hand = %s WHERE sku = %s", [ALLOCATION, SKU])
    for site in (a, b):
        stage.start_platform(site, stack=stack)
    _users(a, b)
    clients = {site.name: _clients(site, other, options) for site, other in ((a, b), (b, a))}
    for c in clients.values():
        stack.callback(c.probe.stop, drain=0)
        stack.callback(c.stock.stop)
        stack.callback(c.retrier.stop)

    say(f"writers at both sites for {options.warmup:.0f}s")
    for c in clients.values():
        c.probe.start()
        c.stock.start()
        c.retrier.start()
    time.sleep(options.warmup)
    for c in clients.values():
        c.probe.stop()
        c.stock.stop()
        c.retrier.stop()
    before = _quiesced(a, b)
    before["command_latency_ms"] = {name: _latency(c.probe) for name, c in clients.items()}
    stock = _stock(a, b, clients)

    say("load again, then SIGKILL site a whole")
    fresh = {site.name: _clients(site, other, options) for site, other in ((a, b), (b, a))}
    for c in fresh.values():
        stack.callback(c.probe.stop, drain=0)
        c.probe.start()
    wait_until(lambda: len(fresh["a"].probe.log.snapshot()) >= 20, timeout=60, what="load at a")
    lag = b.query(
        "SELECT extract(epoch FROM now() - max(recorded_at)) FROM event_log WHERE metadata->>'site' = 'a'"
    )
    if options.link_stall > 0:
        say(f"stalling a's sending to b for {options.link_stall:.1f}s before the kill")
        _stall_sender(a, to=b)
        time.sleep(options.link_stall)
    killed_at = time.monotonic()
    b_failed_before = sum(fresh["b"].probe.log.failed_attempts.values())
    a.kill()
    fresh["a"].probe.stop(drain=0)
    time.sleep(options.after)
    loss = _site_loss(a, b, fresh, killed_at=killed_at, b_failed_before=b_failed_before)
    # The age of a's newest event at b, sampled under load just before the kill (before any stall).
    loss["a_newest_event_age_at_b_seconds"] = round(float(lag[0][0] or 0.0), 3) if lag else None
    fresh["b"].probe.stop()
    rejoin = _rejoin(a, b, stack) if options.rejoin else {"skipped": True}
    report = {
        "link_stall_seconds": options.link_stall,
        "sites": {"a": a.server.port, "b": b.server.port},
        "before_loss": before,
        "stock": stock,
        "cross_site_retries": {name: dict(c.retrier.answers) for name, c in clients.items()},
        "site_loss": loss,
        "rejoin": rejoin,
    }
    report["ok"] = _kept_promises(report)
    return report


def _stall_sender(site: Site, *, to: Site) -> None:
    """SIGSTOP ``site``'s WAL sender for ``to``'s subscription: commits go on, nothing reaches ``to``."""
    rows = site.server.query(
        "SELECT pid FROM pg_stat_replication WHERE application_name = %s", [f"multisite_from_{site.name}"]
    )
    if not rows:
        raise DrillError(f"no WAL sender at {site.name} for {to.name}")
    os.kill(rows[0][0], signal.SIGSTOP)
    site.stalled.append(rows[0][0])


def _connect(*, first: Site, second: Site) -> None:
    stage.publish(first)
    stage.publish(second)
    stage.subscribe(second, copy_data=True)  # the second site copies the first once
    stage.subscribe(first, copy_data=False)  # the reverse direction starts empty: nothing twice
    stage.wait_subscribed(first)
    stage.wait_subscribed(second)


def _users(a: Site, b: Site) -> None:
    """A customer homed at each site (made there), and one manager (made at a, logged in at both once
    the user and the token reached b: a token is made once, where the user logs in first)."""
    passwords = {
        "customer-a": stage.create_user(a, "customer-a", "customer"),
        "manager": stage.create_user(a, "manager", "manager"),
        "customer-b": stage.create_user(b, "customer-b", "customer"),
    }
    a.tokens["customer"] = Api(a.web_port).login("customer-a", passwords["customer-a"])
    b.tokens["customer"] = Api(b.web_port).login("customer-b", passwords["customer-b"])
    a.tokens["manager"] = Api(a.web_port).login("manager", passwords["manager"])
    wait_until(
        lambda: b.query(
            "SELECT 1 FROM authtoken_token t JOIN accounts_user u ON u.id = t.user_id "
            "WHERE u.username = 'manager'"
        ),
        timeout=30,
        what="the manager's token at b",
    )
    b.tokens["manager"] = Api(b.web_port).login("manager", passwords["manager"])
    # The other site's customer, to retry there: the same token works at both once it replicated.
    wait_until(
        lambda: all(site.query("SELECT count(*) FROM authtoken_token")[0][0] == 3 for site in (a, b)),
        timeout=30,
        what="every token at both sites",
    )


def _clients(site: Site, other: Site, options: Options) -> Clients:
    probe = WriteProbe(
        port=site.web_port,
        customer_token=site.tokens["customer"],
        manager_token=site.tokens["manager"],
        threads=options.threads,
        pause=0.02,
    )
    retrier = CrossSiteRetrier(
        probe,
        customer=Api(other.web_port, site.tokens["customer"]),
        manager=Api(other.web_port, other.tokens["manager"]),
    )
    return Clients(probe, StockWriter(Api(site.web_port, site.tokens["customer"]), SKU), retrier)


def _quiesced(a: Site, b: Site, *, timeout: float = 90) -> dict[str, Any]:
    """Both logs hold the same events, both read sides have caught up, and the read tables are equal."""
    started = time.monotonic()
    wait_until(
        lambda: _log_digest(a) == _log_digest(b), timeout=timeout, what="both logs to hold the same events"
    )
    converged = time.monotonic() - started
    wait_until(lambda: _caught_up(a) and _caught_up(b), timeout=timeout, what="both read sides to catch up")
    tables = {
        name: _table_digest(a, table, key) == _table_digest(b, table, key)
        for name, (table, key) in READ_TABLES.items()
    }
    ((events,),) = a.query("SELECT count(*) FROM event_log")
    return {
        "events_at_each_site": events,
        "logs_equal": True,
        "logs_converged_after_seconds": round(converged, 3),
        "read_tables_equal": tables,
        "replication_conflicts": _conflicts(a) + _conflicts(b),
    }


def _latency(probe: WriteProbe) -> dict[str, float]:
    """Acknowledged commands' latency (sent to acknowledged, first attempt), per site under the load."""
    samples = sorted(a.acked_at - a.sent_at for a in probe.log.snapshot() if a.attempts == 1)
    if not samples:
        return {}
    pick = lambda q: round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1000, 1)  # noqa: E731
    return {"commands": len(samples), "p50": pick(0.5), "p95": pick(0.95), "max": pick(1.0)}


def _log_digest(site: Site) -> tuple[Any, ...]:
    return site.query(
        "SELECT count(*), md5(coalesce(string_agg(position || ':' || stream_id || ':' || version, ',' "
        "ORDER BY position), '')) FROM event_log"
    )[0]


def _table_digest(site: Site, table: str, key: str) -> tuple[Any, ...]:
    digest = sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY {}), '')) FROM {} t")
    return site.query(digest.format(sql.Identifier(key), sql.Identifier(table)).as_string(None))[0]


def _caught_up(site: Site) -> bool:
    rows = site.query(
        "SELECT count(*) FROM projections_projectioncheckpoint c WHERE EXISTS "
        "(SELECT 1 FROM event_log e "
        "WHERE (e.transaction_id, e.position) > (c.transaction_id::text::xid8, c.position))"
    )
    names = site.query("SELECT count(*) FROM projections_projectioncheckpoint")
    return rows[0][0] == 0 and names[0][0] >= len(READ_TABLES)


def _conflicts(site: Site) -> int:
    rows = site.query(
        "SELECT coalesce(sum(apply_error_count + sync_error_count), 0) FROM pg_stat_subscription_stats"
    )
    return int(rows[0][0])


def _stock(a: Site, b: Site, clients: dict[str, Clients]) -> dict[str, Any]:
    report = {}
    for site in (a, b):
        ((on_hand,),) = site.query("SELECT stock_on_hand FROM orders_product WHERE sku = %s", [SKU])
        ((placed,),) = site.query(
            "SELECT count(*) FROM event_log WHERE event_type = 'OrderPlaced' AND metadata->>'site' = %s",
            [site.name],
        )
        report[site.name] = {
            "allocation": ALLOCATION,
            "placed_here": placed,
            "on_hand": on_hand,
            "oversold": placed > ALLOCATION or on_hand < 0 or on_hand != ALLOCATION - placed,
            "sold_out_answers": clients[site.name].stock.sold_out,
        }
    return report


def _site_loss(
    a: Site, b: Site, clients: dict[str, Clients], *, killed_at: float, b_failed_before: int
) -> dict[str, Any]:
    b_probe, a_probe = clients["b"].probe, clients["a"].probe
    b_failed = sum(b_probe.log.failed_attempts.values()) - b_failed_before
    b_acks_after = [x for x in b_probe.log.snapshot() if x.sent_at >= killed_at]
    verdict_a = check_event_log(b.server, dbname="orders", acks=a_probe.log.snapshot(), sent=a_probe.log.sent)
    verdict_b = check_event_log(b.server, dbname="orders", acks=b_probe.log.snapshot(), sent=b_probe.log.sent)
    # A's customers: their newest order, readable at b as of the last event that arrived; writable once
    # b adopted a's streams.
    reachable = [x for x in a_probe.log.snapshot() if x not in verdict_a.lost]
    target = reachable[-1].order_id
    manager = Api(b.web_port, b.tokens["manager"])
    before_adopt = manager.call("POST", f"/api/orders/{target}/notes/", {"text": "before adoption"})
    readable = manager.call("GET", f"/api/orders/{target}/")
    say("adopt_site a at b")
    adopt_started = time.monotonic()
    adopted = b.manage_json("adopt_site", "a")
    adopt_done = time.monotonic()

    def accepted() -> bool:
        return manager.call("POST", f"/api/orders/{target}/notes/", {"text": "after adoption"}).status == 200

    wait_until(accepted, timeout=60, what="an a-homed order to accept a command at b")
    writable_at = time.monotonic()
    return {
        "b_homed_commands": {
            "acknowledged_after_kill": len(b_acks_after),
            "slowest_after_kill_seconds": round(
                max((x.acked_at - x.sent_at for x in b_acks_after), default=0.0), 3
            ),
            "failed_attempts_during_loss": b_failed,
            "abandoned": len(b_probe.log.abandoned),
        },
        "a_homed_orders": {
            "read_at_b_before_adoption": readable.status,
            "command_at_b_before_adoption": f"{before_adopt.status} {before_adopt.code}",
            "adopt_command_seconds": round(adopt_done - adopt_started, 3),
            "rto_after_adopt_command_seconds": round(writable_at - adopt_started, 3),
            "rto_after_kill_seconds_excluding_decision": round(writable_at - killed_at, 3),
            "adoption": adopted,
        },
        "rpo": verdict_a.rpo(killed_at=killed_at),
        "applied_twice": len(verdict_a.applied_twice) + len(verdict_b.applied_twice),
        "b_homed_lost": len(verdict_b.lost),
    }


def _rejoin(a: Site, b: Site, stack: ExitStack) -> dict[str, Any]:
    """A comes back as a fresh copy of b; its old database is started isolated to list what it had
    acknowledged but never sent."""
    old = postgres.Server("postgres-a-old", a.server.datadir, free_port(), a.server.pg)
    settings = {
        **stage.LOGICAL_SETTINGS,
        "max_logical_replication_workers": "0",
        "max_wal_senders": "0",
        "wal_level": "logical",
    }
    settings["max_wal_senders"] = "10"
    stack.callback(old.stop)

    def old_started() -> bool:  # a killed backend may hold the shared memory a while after its postmaster
        try:
            old.start(log_dir=a.workdir / "logs", settings=settings)
        except DrillError:
            time.sleep(0.5)
            return False
        return True

    wait_until(old_started, timeout=30, what="a's old database to start isolated")
    say("re-join a as a copy of b")
    new = Site(
        "a",
        postgres.Server("postgres-a2", a.server.datadir.with_name("a2"), free_port(), a.server.pg),
        a.workdir.with_name("a2"),
    )
    new.web_port, new.tokens = a.web_port, a.tokens
    b.env = stage.site_env(
        b,
        new,
        redis_url=b.environment().variables["REDIS_URL"],
        queue=b.environment().variables["CELERY_TASK_DEFAULT_QUEUE"],
    )
    started = time.monotonic()
    stage.start_database(new, b, stack=stack)
    stage.publish(new)
    stage.subscribe(new, copy_data=True)
    stage.wait_subscribed(new, timeout=120)
    stage.subscribe(b, copy_data=False)
    stage.wait_subscribed(b)
    listed = b.manage_json("multisite_unreplicated", old.conninfo("orders"))
    new.manage("shell", "-c", "from projections.runner import catch_up_all; catch_up_all(max_seconds=120)")
    rejoined = time.monotonic() - started
    after = _quiesced(new, b)
    still_home = b.query("SELECT adopted_by FROM orders_siteadoption WHERE site = 'a'")
    return {
        "seconds": round(rejoined, 3),
        "unreplicated_events_listed": listed["unreplicated_events"],
        "unreplicated_sample": listed["events"][:3],
        "after": after,
        "a_streams_homed_at": still_home[0][0] if still_home else "a",
    }


def _kept_promises(report: dict[str, Any]) -> bool:
    loss, before = report["site_loss"], report["before_loss"]
    checks = [
        all(before["read_tables_equal"].values()),
        before["replication_conflicts"] == 0,
        not any(s["oversold"] for s in report["stock"].values()),
        loss["applied_twice"] == 0,
        loss["b_homed_commands"]["failed_attempts_during_loss"] == 0,
        loss["b_homed_commands"]["abandoned"] == 0,
        loss["b_homed_lost"] == 0,
        all("EXECUTED AGAIN" not in answers for answers in report["cross_site_retries"].values()),
    ]
    rejoin = report["rejoin"]
    if not rejoin.get("skipped"):
        checks += [
            all(rejoin["after"]["read_tables_equal"].values()),
            rejoin["after"]["replication_conflicts"] == 0,
        ]
    return all(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multisite.drill", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=Options.threads)
    parser.add_argument("--warmup", type=float, default=Options.warmup)
    parser.add_argument("--after", type=float, default=Options.after)
    parser.add_argument("--no-rejoin", action="store_true")
    parser.add_argument(
        "--link-stall", type=float, default=0.0, help="freeze a's sending this long before the kill"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data, logs)")
    args = parser.parse_args(argv)
    options = Options(
        threads=args.threads,
        warmup=args.warmup,
        after=args.after,
        rejoin=not args.no_rejoin,
        link_stall=args.link_stall,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with work_directory(keep=args.keep) as workdir:
        report = run_drill(workdir, options)
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
