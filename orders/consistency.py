"""Read-your-writes tokens: a command names its last event, ``<transaction id>.<position>``.

The write side issues them (a command's ``X-Consistency-Token`` header); the read side waits until its
checkpoints have passed one (``projections.status``). Both order events by (transaction id, position).
"""

from __future__ import annotations

from collections.abc import Sequence

from orders.store import RecordedEvent

CONSISTENCY_HEADER = "X-Consistency-Token"


def consistency_token(events: Sequence[RecordedEvent]) -> str | None:
    """A token for the last of ``events`` in commit order; None for no events."""
    if not events:
        return None
    last = max(events, key=lambda e: (e.transaction_id, e.position))
    return f"{last.transaction_id}.{last.position}"
