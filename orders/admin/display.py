"""How the admin shows order data: money, JSON payloads, actors. (Times and the admins' base classes:
config.admin_base.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Q, Value
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy

from orders.api.fields import format_money

HIDDEN_NOTE = gettext_lazy("(hidden: your role may not read notes)")


def money(minor_units: int | None, currency: str | None = None) -> str:
    """``1999`` -> ``"19.99 USD"``."""
    if minor_units is None:
        return "-"
    return f"{format_money(minor_units)} {currency or settings.SHOP_CURRENCY}"


def pretty_json(value: Any) -> SafeString:
    return format_html('<pre class="admin-json">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


def visible_payload(event_type: str, payload: dict[str, Any], *, may_see_notes: bool) -> dict[str, Any]:
    """The payload as this viewer may see it: a note's text only for roles that may read notes."""
    if event_type == "OrderNoteAdded" and not may_see_notes:
        return {**payload, "text": str(HIDDEN_NOTE)}  # str: the payload is dumped as JSON
    return payload


def actor_labels(actor_ids: Iterable[str | None]) -> dict[str, str]:
    """``{"user:7": "alice (finance)"...}`` for the given metadata actors, in one query."""
    wanted = {actor for actor in actor_ids if actor}
    pks = {int(actor[5:]) for actor in wanted if actor.startswith("user:") and actor[5:].isdigit()}
    users = (
        get_user_model()
        .objects.filter(pk__in=pks)
        .annotate(roles=ArrayAgg("groups__name", filter=Q(groups__isnull=False), default=Value([])))
        .values_list("pk", "username", "roles")
    )
    labels = {actor: actor for actor in wanted}
    for pk, username, roles in users:
        labels[f"user:{pk}"] = f"{username} ({', '.join(sorted(roles))})" if roles else username
    return labels


# Each state's colour, by meaning: green done or money in, amber waiting on staff, red stopped, grey not
# yet live (orders.statuses).
_BADGE_TONES = {
    "draft": "quiet",
    "placed": "wait",
    "completed": "done",
    "cancelled": "stop",
    "expired": "stop",
    "unpaid": "wait",
    "partially_paid": "wait",
    "paid": "done",
    "partially_refunded": "stop",
    "refunded": "stop",
    "unfulfilled": "quiet",
    "partially_shipped": "wait",
    "shipped": "wait",
    "delivered": "done",
}


def badge(state: str) -> SafeString:
    """A state as a coloured badge (the text says it too: colour is never the only signal)."""
    tone = _BADGE_TONES.get(state, "quiet")
    return format_html('<span class="badge badge-{}">{}</span>', tone, state.replace("_", " "))


_ORDER_NUMBER = re.compile(r"^(?:ord-?)?0*(\d{1,9})$", re.IGNORECASE)


def order_number(term: str) -> str | None:
    """An order number as people type it (``236``, ``ord-236``, ``ORD-000236``) in its stored form."""
    match = _ORDER_NUMBER.match(term.strip())
    return f"ORD-{int(match.group(1)):06d}" if match else None
