"""Stock and product look-ups for the command handlers.

Reservations are conditional UPDATEs: a placement waits on the product's row lock while another
placement of the same product commits, then re-checks the stock it sees. So the last units are never
oversold and a hot product forms a queue instead of a retry storm. Rows are always locked in sku order,
so two placements sharing products cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from django.db.models import F

from config.errors import InsufficientStock
from orders import events as e
from orders.aggregate import ProductInfo
from orders.models import Product


def product_info(skus: Iterable[str]) -> dict[str, ProductInfo]:
    rows = Product.objects.filter(sku__in=list(skus)).values_list("sku", "name", "unit_price", "active")
    return {sku: ProductInfo(sku, name, unit_price, active) for sku, name, unit_price, active in rows}


def reserve(quantities: Mapping[str, int]) -> None:
    for sku in sorted(quantities):
        quantity = quantities[sku]
        taken = Product.objects.filter(sku=sku, stock_on_hand__gte=quantity).update(
            stock_on_hand=F("stock_on_hand") - quantity
        )
        if not taken:
            raise InsufficientStock(
                "not enough stock to place the order", details={"lines": [f"{sku}: not enough stock"]}
            )


def release(quantities: Mapping[str, int]) -> None:
    for sku in sorted(quantities):
        Product.objects.filter(sku=sku).update(stock_on_hand=F("stock_on_hand") + quantities[sku])


def apply_stock_effects(new_events: Sequence[e.Event]) -> None:
    """Reserve or release stock for the events a command decided, in the command's transaction."""
    for event in new_events:
        if isinstance(event, e.OrderPlaced):
            reserve(event.lines)
        elif isinstance(event, e.OrderCancelled | e.OrderExpired):
            release(event.released_stock)
