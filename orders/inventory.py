"""Stock effects of a command's events, in the command's transaction: a placement reserves what it
places, a cancellation or expiry releases what the placement reserved (the statements: ``store``)."""

from __future__ import annotations

from collections.abc import Sequence

from orders import events as e
from orders import store


def apply_stock_effects(new_events: Sequence[e.Event]) -> None:
    """Reserve or release stock for the events a command decided, in the command's transaction."""
    for event in new_events:
        if isinstance(event, e.OrderPlaced):
            store.reserve(event.lines)
        elif isinstance(event, e.OrderCancelled | e.OrderExpired):
            store.release(event.released_stock)
