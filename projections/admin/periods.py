"""The order list's date hierarchy without reading every row.

Django's ``date_hierarchy`` lists the years (and a year's months) that hold rows with
``queryset.datetimes(field, kind)``: ``SELECT DISTINCT date_trunc(...)`` over every filtered row, which
reads the whole list each time the page opens. ``PeriodQuerySet`` answers the same question from the
field's index instead: the first and last value (``MIN``/``MAX``, one index probe each), then, for each
year (or month) between them, whether a row exists in it (a range probe that stops at the first row).
A few cheap queries instead of one that grows with the table.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Literal

from django.db.models import Max, Min, QuerySet
from django.utils import timezone

PROBED_KINDS = frozenset({"year", "month"})  # a month's days are few rows: Django's query serves them


class PeriodQuerySet(QuerySet):
    def datetimes(
        self,
        field_name: str,
        kind: Literal["year", "month", "week", "day", "hour", "minute", "second"],
        order: Literal["ASC", "DESC"] = "ASC",
        tzinfo: tzinfo | None = None,
    ) -> Any:  # for a year or a month, a list of the same datetimes Django's queryset holds
        if kind not in PROBED_KINDS:
            return super().datetimes(field_name, kind, order, tzinfo)
        zone = tzinfo or timezone.get_current_timezone()
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        start, last = _period_start(bounds["first"].astimezone(zone), kind), bounds["last"].astimezone(zone)
        periods = []
        while start <= last:
            end = _next_period(start, kind)
            if self.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end}).exists():
                periods.append(start)
            start = end
        return periods if order == "ASC" else periods[::-1]


def _period_start(moment: datetime, kind: str) -> datetime:
    return datetime(moment.year, moment.month if kind == "month" else 1, 1, tzinfo=moment.tzinfo)


def _next_period(start: datetime, kind: str) -> datetime:
    if kind == "year" or start.month == 12:
        return datetime(start.year + 1, 1, 1, tzinfo=start.tzinfo)
    return datetime(start.year, start.month + 1, 1, tzinfo=start.tzinfo)


def probing_periods(queryset: QuerySet) -> PeriodQuerySet:
    """``queryset`` (its filters, ordering, ``only``) as a ``PeriodQuerySet``."""
    return PeriodQuerySet(model=queryset.model, query=queryset.query.chain(), using=queryset.db)
