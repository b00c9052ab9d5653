"""System checks of the read side that need the database: ``manage.py migrate`` and
``manage.py check --database default`` run them, so a release or a start-up script stops before the
projections would run on transaction ids they cannot trust (``projections.guard``)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError

from projections import guard

_IDS = {guard.IDS_AHEAD: "projections.E001", guard.ORPHANED_PREPARED: "projections.E002"}


@checks.register(checks.Tags.database)
def check_transaction_ids(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if not databases or "default" not in databases:
        return []
    try:
        found = guard.refusals()
    except DatabaseError:  # not migrated yet, or unreachable: migrate and the other checks say so
        return []
    return [checks.Error(refusal.message, id=_IDS[refusal.code]) for refusal in found]
