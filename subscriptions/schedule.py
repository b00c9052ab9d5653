"""When a failed delivery is tried again: a fixed schedule with jitter, kept in PostgreSQL
(``next_attempt_at``), never in a broker's countdown. ``Retry-After`` moves the next attempt later, never
earlier. After the last step the delivery is dead until an operator redelivers it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# Seconds after the 1st, 2nd, ... failed attempt: 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
# (about 28 hours in all, so a receiver down for a day still gets everything).
DELAYS = (5, 60, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2  # ± 20 %, so deliveries that failed together do not come back together
MAX_RETRY_AFTER = 24 * 3600
rng = random.Random()  # noqa: S311  # nosec B311  # spreading retries, not a secret


def next_delay(attempts: int, *, retry_after: str | None = None, now: datetime) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones, or None: no attempt is left."""
    if attempts > len(DELAYS):
        return None
    base = DELAYS[attempts - 1]
    delay = base * (1 + rng.uniform(-JITTER, JITTER))
    asked = parse_retry_after(retry_after, now=now)
    return max(delay, asked) if asked is not None else delay


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date), at most a day; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value), MAX_RETRY_AFTER))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min((when - now).total_seconds(), MAX_RETRY_AFTER))


def at(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
