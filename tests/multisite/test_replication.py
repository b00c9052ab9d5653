"""Two real PostgreSQL 16 servers replicating both ways (publications, subscriptions with origin = none):
an event decided at one site is applied at the other with the *applying* transaction's id, so the
other site's gap-safe reader projects it — also when that site's transaction ids are far ahead of the
origin's, where the origin's id would sort behind its checkpoint and be skipped for good."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from multisite import stage
from standby.drill import work_directory
from standby.processes import DrillError, wait_until

pytestmark = [pytest.mark.multisite, pytest.mark.slow]

CREATE_ORDER = """
import uuid
from django.contrib.auth import get_user_model
from orders.commands import CreateOrder
from orders.handlers import dispatch
user = get_user_model().objects.get(username="{username}")
result = dispatch(CreateOrder(order_id=uuid.uuid4(), customer_id=user.pk), actor=user)
print(result.order.id, result.events[-1].transaction_id)
"""
CATCH_UP = "from projections.runner import catch_up_all; print(catch_up_all())"
# Many committed transactions in one call (a procedure may COMMIT in its loop).
BURN_XIDS = "DO $$ BEGIN FOR i IN 1..3000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$"


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[stage.Site, stage.Site]]:
    with work_directory() as workdir, ExitStack() as stack:
        a, b = stage.new_sites(workdir)
        stage.start_database(a, b, stack=stack)
        stage.start_database(b, a, stack=stack)
        stage.publish(a)
        stage.publish(b)
        stage.subscribe(b, copy_data=True)  # the second site copies the first once ...
        stage.subscribe(a, copy_data=False)  # ... and the reverse direction starts empty
        stage.wait_subscribed(a)
        stage.wait_subscribed(b)
        yield a, b


def create_order(site: stage.Site, username: str) -> tuple[str, int]:
    output = site.manage("shell", "-c", CREATE_ORDER.format(username=username))
    order_id, xid = output.strip().splitlines()[-1].split()
    return order_id, int(xid)


def test_an_event_replicated_from_a_site_with_older_transaction_ids_is_projected(
    sites: tuple[stage.Site, stage.Site],
) -> None:
    a, b = sites
    stage.create_user(b, "bea", "customer")
    b.query(BURN_XIDS)  # b's ids run far ahead of a's
    create_order(b, "bea")
    b.manage("shell", "-c", CATCH_UP)  # b's checkpoints now sit at a transaction id above 3000
    ((b_checkpoint,),) = b.query(
        "SELECT min(transaction_id::text::bigint) FROM projections_projectioncheckpoint"
    )
    stage.create_user(a, "ann", "customer")
    order_id, a_xid = create_order(a, "ann")
    assert a_xid < b_checkpoint  # as data, a's id would sort behind b's checkpoint: skipped for ever

    arrived = wait_until(
        lambda: b.query(
            "SELECT transaction_id::text::bigint FROM event_log WHERE stream_id = %s", [order_id]
        ),
        timeout=30,
        what="a's event at b",
    )
    assert arrived[0][0] != a_xid and arrived[0][0] > b_checkpoint  # b's own applying transaction
    b.manage("shell", "-c", CATCH_UP)
    assert b.query("SELECT customer_id FROM projections_ordersummary WHERE id = %s", [order_id])


def test_ids_are_interleaved_so_the_sites_never_collide(sites: tuple[stage.Site, stage.Site]) -> None:
    a, b = sites
    a_positions = {p for (p,) in a.query("SELECT position FROM event_log WHERE metadata->>'site' = 'a'")}
    b_positions = {p for (p,) in b.query("SELECT position FROM event_log WHERE metadata->>'site' = 'b'")}
    assert a_positions and b_positions
    assert all(p % 2 == 1 for p in a_positions) and all(p % 2 == 0 for p in b_positions)
    ((ann,),) = a.query("SELECT id FROM accounts_user WHERE username = 'ann'")
    ((bea,),) = b.query("SELECT id FROM accounts_user WHERE username = 'bea'")
    assert ann % 2 == 1 and bea % 2 == 0


def test_nothing_loops_back_and_no_subscription_fails(sites: tuple[stage.Site, stage.Site]) -> None:
    a, b = sites
    wait_until(
        lambda: a.query("SELECT count(*) FROM event_log") == b.query("SELECT count(*) FROM event_log"),
        timeout=30,
        what="both logs to hold the same events",
    )
    for site in sites:
        status = site.manage_json("multisite_status")
        assert status["status"] == "ok", status
        assert status["inbound"]["apply_error_count"] == 0


def test_metrics_carry_the_lag_each_way(sites: tuple[stage.Site, stage.Site]) -> None:
    script = (
        "from multisite.metrics import ReplicationCollector\n"
        "for m in ReplicationCollector().collect():\n"
        "    print(m.name, m.samples[0].labels['peer'], m.samples[0].value)"
    )
    for site in sites:
        output = site.manage("shell", "-c", script).strip().splitlines()
        lines = [line.split() for line in output if line.startswith("multisite_")]
        names = {name for name, _, _ in lines}
        assert {"multisite_outbound_lag_bytes", "multisite_outbound_lag_seconds"} <= names
        assert dict((n, float(v)) for n, _, v in lines)["multisite_outbound_connected"] == 1


def test_stock_is_allocated_per_site_and_a_transfer_moves_units_once(
    sites: tuple[stage.Site, stage.Site],
) -> None:
    a, b = sites
    a.query(
        "INSERT INTO orders_product (sku, name, unit_price, active, stock_on_hand) "
        "VALUES ('T-MUG', 'Mug', 900, true, 10)"
    )
    # The catalogue arrives; a's allocation does not: b starts with none of it.
    wait_until(
        lambda: b.query("SELECT stock_on_hand FROM orders_product WHERE sku = 'T-MUG'"),
        timeout=30,
        what="the product at b",
    )
    assert b.query("SELECT stock_on_hand FROM orders_product WHERE sku = 'T-MUG'") == [(0,)]

    a.manage("transfer_stock", "T-MUG", "4", "--to", "b")
    assert a.query("SELECT stock_on_hand FROM orders_product WHERE sku = 'T-MUG'") == [(6,)]
    wait_until(
        lambda: b.query("SELECT stock_on_hand FROM orders_product WHERE sku = 'T-MUG'") == [(4,)],
        timeout=30,
        what="the units at b",
    )
    with pytest.raises(DrillError, match="fewer than 7"):
        a.manage("transfer_stock", "T-MUG", "7", "--to", "b")
    assert a.query("SELECT stock_on_hand FROM orders_product WHERE sku = 'T-MUG'") == [(6,)]
    assert a.query("SELECT count(*) FROM orders_stocktransfer") == [(1,)]
    # Applied once: a's own insert did not add the units at a (the trigger fires only on apply).
    assert b.query("SELECT count(*) FROM orders_stocktransfer") == [(1,)]


# Last in the module: it leaves b's subscription stopped on purpose.
def test_a_conflict_stops_the_subscription_and_readyz_names_the_row(
    sites: tuple[stage.Site, stage.Site],
) -> None:
    a, b = sites
    insert = (
        "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) VALUES ('!', false, 'clash', '', '', '', false, true, now()) "
        "RETURNING id"
    )
    a.query("ALTER SUBSCRIPTION multisite_from_b DISABLE")  # so that b's row cannot reach a first
    b.query(insert)  # the same username at both sites: what creating a user at one site rules out
    ((a_id,),) = a.query(insert)
    status = wait_until(
        lambda: (s := b.manage_json("multisite_status"))["inbound"]["apply_error_count"] and s,
        timeout=60,
        what="b's apply worker to fail on the row",
    )
    assert status["status"] == "warn"
    assert {"table": "accounts_user", "peer_key": a_id} in [
        {"table": c["table"], "peer_key": c["peer_key"]} for c in status["conflicts"]
    ]
    assert any("collide" in problem for problem in status["problems"])
