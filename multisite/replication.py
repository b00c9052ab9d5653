"""What is replicated between the two sites, and the SQL that sets it up (``multisite_setup``).

Conflict-free by construction, table by table (docs/disaster-recovery.md §3.2):

- ``event_log``: a stream is appended to at its home site only (orders.sites); positions are
  interleaved per site (``INCREMENT BY`` the number of sites, starting at SITE_ID), so ``(stream_id,
  version)`` and ``position`` never collide. The local commit-order column is set on apply by a replica
  trigger (orders migration 0008).
- ``orders_idempotencyrecord``: written in the command's transaction, so it travels with the events;
  keys are stored tagged with the writing site (orders.sites) and ids are interleaved.
- ``orders_product``: the catalogue (name, price, active) only — ``stock_on_hand`` is *not* published:
  each site's column is its own allocation, reserved from by its own orders only.
- ``orders_stocktransfer``: a ledger of units moved between the sites' allocations; each row written
  once, at the source, with a fresh id; the destination's replica trigger adds the units on apply.
- ``orders_siteadoption``: written by ``adopt_site`` at the surviving site while the other is fenced.
- ``accounts_user``, ``accounts_user_groups``, ``authtoken_token``, ``recovery_datakey``: interleaved
  ids; a user (and their token and data keys) is created at their home site.

Not replicated: the read tables (each site projects its own log), checkpoints, sessions, the admin's
log, backup records, ``auth_group`` and permissions (made identically by the migrations at each site).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

PUBLICATION = "multisite"
# Tables published whole.
PUBLISHED = [
    "event_log",
    "orders_idempotencyrecord",
    "orders_siteadoption",
    "orders_stocktransfer",
    "accounts_user",
    "accounts_user_groups",
    "authtoken_token",
    "recovery_datakey",
]
# Published with a column list: the catalogue, not the site's own stock allocation.
PRODUCT_COLUMNS = ["sku", "name", "unit_price", "active"]
# Sequences interleaved per site: every serial key of a published table, and order numbers.
INTERLEAVED = [
    ("event_log", "position"),
    ("orders_idempotencyrecord", "id"),
    ("accounts_user", "id"),
    ("accounts_user_groups", "id"),
    ("recovery_datakey", "id"),
]
ORDER_NUMBER_SEQUENCE = "order_number_seq"
# How long interleaving waits for a transaction that drew from a sequence and stays open, before failing.
SEQUENCE_LOCK_TIMEOUT = "10s"


def subscription_name(peer: str) -> str:
    return f"multisite_from_{peer}"


def peer_site() -> str:
    others = [site for site in settings.SITES if site != settings.SITE_NAME]
    return str(others[0])


@dataclass(frozen=True)
class SetupResult:
    sequences: dict[str, int]  # sequence -> next value it will give
    publication: str
    subscription: str | None


def interleave_sequences() -> dict[str, int]:
    """``INCREMENT BY n``, restarted at the next value above everything that is ``≡ SITE_ID (mod n)``.

    Idempotent. Restarting above the table's largest key (both sites' rows) keeps a site that re-joins
    as a copy from handing out a key it already holds. Safe while commands run (``adopt_site`` on a
    survivor under load): each sequence is altered first, which takes its lock, and read and restarted
    in the same transaction, so no ``nextval`` can fall between the read and the restart. An open
    transaction that drew from a sequence holds that lock; ``lock_timeout`` makes this fail then
    instead of queueing every command behind it."""
    modulus, site_id = len(settings.SITES), settings.SITE_ID
    done = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = %s", [SEQUENCE_LOCK_TIMEOUT])
        for table, column in INTERLEAVED:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
            (sequence,) = cursor.fetchone()
            _lock(cursor, sequence, modulus)
            cursor.execute(
                sql.SQL("SELECT coalesce(max({}), 0) FROM {}")
                .format(sql.Identifier(column), sql.Identifier(table))
                .as_string(cursor.connection)
            )
            (largest,) = cursor.fetchone()
            done[sequence] = _restart(cursor, sequence, int(largest), modulus, site_id)
        _lock(cursor, ORDER_NUMBER_SEQUENCE, modulus)
        done[ORDER_NUMBER_SEQUENCE] = _restart(cursor, ORDER_NUMBER_SEQUENCE, 0, modulus, site_id)
    return done


def _lock(cursor: Any, sequence: str, modulus: int) -> None:
    """ALTER SEQUENCE holds the sequence's lock to the end of the transaction: nextval waits meanwhile."""
    cursor.execute(
        sql.SQL("ALTER SEQUENCE {} INCREMENT BY {}")
        .format(_sequence_identifier(sequence), sql.Literal(modulus))
        .as_string(cursor.connection)
    )


def _restart(cursor: Any, sequence: str, largest: int, modulus: int, site_id: int) -> int:
    cursor.execute("SELECT coalesce(pg_sequence_last_value(%s::regclass), 0)", [sequence])
    (last_value,) = cursor.fetchone()
    floor = max(int(last_value), largest) + 1
    start = floor + ((site_id - floor) % modulus)
    cursor.execute(
        sql.SQL("ALTER SEQUENCE {} INCREMENT BY {} MINVALUE 1 RESTART WITH {}")
        .format(_sequence_identifier(sequence), sql.Literal(modulus), sql.Literal(start))
        .as_string(cursor.connection)
    )
    return start


def _sequence_identifier(name: str) -> sql.Identifier:
    return sql.Identifier(*(part.strip('"') for part in name.split(".")))


def create_publication() -> str:
    """The publication of this site's own changes (idempotent: an existing one is re-set)."""
    tables = [sql.Identifier(t) for t in PUBLISHED]
    product = sql.SQL("{} ({})").format(
        sql.Identifier("orders_product"), sql.SQL(", ").join(map(sql.Identifier, PRODUCT_COLUMNS))
    )
    listed = sql.SQL(", ").join([*tables, product])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", [PUBLICATION])
        verb = (
            "ALTER PUBLICATION {} SET TABLE {}" if cursor.fetchone() else "CREATE PUBLICATION {} FOR TABLE {}"
        )
        cursor.execute(sql.SQL(verb).format(sql.Identifier(PUBLICATION), listed).as_string(cursor.connection))
    return PUBLICATION


def create_subscription(peer_dsn: str, *, copy_data: bool) -> str:
    """Subscribe to the peer's publication with ``origin = none``: only changes made *at* the peer
    come back, never the ones it applied from us (no loop). ``copy_data`` once, on the site that starts
    empty (the second one, or one re-joining); ``disable_on_error`` stays off: a conflict keeps the
    subscription retrying (and /readyz warning) until an operator decides, instead of skipping data."""
    name = subscription_name(peer_site())
    options = sql.SQL("origin = none, copy_data = {}, disable_on_error = false").format(
        sql.Literal(copy_data)
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", [name])
        if cursor.fetchone():
            return name
        statement = sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH ({})").format(
            sql.Identifier(name), sql.Literal(peer_dsn), sql.Identifier(PUBLICATION), options
        )
        cursor.execute(statement.as_string(cursor.connection))
    return name


def drop_subscription(*, keep_slot: bool = False) -> bool:
    """Drop the subscription to the peer. With the peer lost, the slot on it cannot be dropped:
    ``keep_slot`` detaches it first (``slot_name = NONE``)."""
    name = subscription_name(peer_site())
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", [name])
        if not cursor.fetchone():
            return False
        ident = sql.Identifier(name).as_string(cursor.connection)
        if keep_slot:
            cursor.execute(f"ALTER SUBSCRIPTION {ident} DISABLE")
            cursor.execute(f"ALTER SUBSCRIPTION {ident} SET (slot_name = NONE)")
        cursor.execute(f"DROP SUBSCRIPTION {ident}")
    return True


def drop_peer_slot() -> bool:
    """Drop the slot the lost peer's subscription had here, so it stops retaining WAL."""
    name = subscription_name(settings.SITE_NAME)  # the peer subscribes to us under our name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s AND NOT active",
            [name],
        )
        return bool(cursor.fetchall())


_CREDIT_FUNCTION = """
CREATE OR REPLACE FUNCTION orders_stock_transfer_credit() RETURNS trigger LANGUAGE plpgsql
-- The apply worker runs with an empty search_path: keep the schema the platform's tables are in.
SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.to_site = {site} THEN
        UPDATE orders_product SET stock_on_hand = stock_on_hand + NEW.units WHERE sku = NEW.sku;
        IF NOT FOUND THEN  -- stop the subscription (reported) rather than lose the units
            RAISE EXCEPTION 'stock transfer %: no product % at site %', NEW.id, NEW.sku, NEW.to_site;
        END IF;
    END IF;
    RETURN NULL;
END;
$$
"""


def install_transfer_credit() -> None:
    """The replica trigger's function, naming this site: an applied transfer to us adds its units."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(_CREDIT_FUNCTION)
            .format(site=sql.Literal(settings.SITE_NAME))
            .as_string(cursor.connection)
        )
