"""Stock and product look-ups for the command handlers.

Reservations are conditional UPDATEs: a placement waits on the product's row lock while another
placement of the same product commits, then re-checks the stock it sees. So the last units are never
oversold and a hot product forms a queue instead of a retry storm. Rows are always locked in sku order,
so two placements sharing products cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from config.errors import InsufficientStock
from config.prepared import prepared_cursor
from orders import events as e
from orders.aggregate import ProductInfo

# Plain SQL, prepared (config.prepared): creating, adding a line and placing run these on every
# command, and composing them through the ORM cost more than running them (profile of the bus, bench/).
_PRODUCTS_SQL = "SELECT sku, name, unit_price, active FROM orders_product WHERE sku = ANY(%s::text[])"
_RESERVE_SQL = """
UPDATE orders_product SET stock_on_hand = stock_on_hand - %(quantity)s::integer
WHERE sku = %(sku)s::text AND stock_on_hand >= %(quantity)s::integer
"""
_RELEASE_SQL = "UPDATE orders_product SET stock_on_hand = stock_on_hand + %s::integer WHERE sku = %s::text"


def product_info(skus: Iterable[str]) -> dict[str, ProductInfo]:
    with prepared_cursor() as cursor:
        cursor.execute(_PRODUCTS_SQL, [list(skus)], prepare=True)
        rows = cursor.fetchall()
    return {sku: ProductInfo(sku, name, unit_price, active) for sku, name, unit_price, active in rows}


def reserve(quantities: Mapping[str, int]) -> None:
    with prepared_cursor() as cursor:
        for sku in sorted(quantities):
            cursor.execute(_RESERVE_SQL, {"sku": sku, "quantity": quantities[sku]}, prepare=True)
            if not cursor.rowcount:
                raise InsufficientStock(
                    "not enough stock to place the order", details={"lines": [f"{sku}: not enough stock"]}
                )


def release(quantities: Mapping[str, int]) -> None:
    with prepared_cursor() as cursor:
        for sku in sorted(quantities):
            cursor.execute(_RELEASE_SQL, [quantities[sku], sku], prepare=True)


def apply_stock_effects(new_events: Sequence[e.Event]) -> None:
    """Reserve or release stock for the events a command decided, in the command's transaction."""
    for event in new_events:
        if isinstance(event, e.OrderPlaced):
            reserve(event.lines)
        elif isinstance(event, e.OrderCancelled | e.OrderExpired):
            release(event.released_stock)
