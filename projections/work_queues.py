"""The admin index's work queues and sales comparison: what staff act on next, and how today compares.

Each queue is a count of orders in one state that needs someone, linking to the order list filtered to
exactly those orders. Counts read the read model (``OrderSummary``) through its status index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from orders.admin.display import money
from orders.statuses import FulfillmentStatus, OrderStatus, PaymentStatus
from projections.models import DailySales, OrderSummary


@dataclass(frozen=True)
class Queue:
    key: str
    label: str | Promise
    count: int
    url: str  # the order list filtered to these orders


# key, label, filter: one aggregate query counts them all.
_QUEUES: tuple[tuple[str, str | Promise, dict[str, str]], ...] = (
    (
        "unpaid",
        gettext_lazy("Placed, waiting for payment"),
        {"status": OrderStatus.PLACED, "payment_status": PaymentStatus.UNPAID},
    ),
    (
        "to-ship",
        gettext_lazy("Paid, not shipped"),
        {
            "status": OrderStatus.PLACED,
            "payment_status": PaymentStatus.PAID,
            "fulfillment_status": FulfillmentStatus.UNFULFILLED,
        },
    ),
    (
        "in-transit",
        gettext_lazy("Shipped, not delivered"),
        {"status": OrderStatus.PLACED, "fulfillment_status": FulfillmentStatus.SHIPPED},
    ),
)


def work_queues() -> tuple[Queue, ...]:
    counts = OrderSummary.objects.aggregate(
        **{key: Count("id", filter=Q(**lookup)) for key, _, lookup in _QUEUES}
    )
    changelist = reverse("admin:projections_ordersummary_changelist")
    return tuple(
        Queue(key, label, counts[key], f"{changelist}?{urlencode(lookup)}") for key, label, lookup in _QUEUES
    )


@dataclass(frozen=True)
class SalesDay:
    day: date
    gross: int  # minor units

    @property
    def label(self) -> str:
        return f"{self.day.isoformat()}: {money(self.gross)}"


@dataclass(frozen=True)
class SalesComparison:
    """Orders placed and gross: today, yesterday, the last 7 days (today included); refunds this week."""

    today_orders: int
    yesterday_orders: int
    week_orders: int
    today_gross: str
    yesterday_gross: str
    week_gross: str
    week_refunds: str
    last_30_days: tuple[SalesDay, ...]  # oldest first, a day for every date (0 when nothing sold)

    @property
    def bars(self) -> tuple[Bar, ...]:
        """The chart's bars in a 300 x 100 box, whole numbers (a float could render as "1,5")."""
        top = max((day.gross for day in self.last_30_days), default=0) or 1
        bars = []
        for index, day in enumerate(self.last_30_days):
            height = round(100 * day.gross / top)
            bars.append(Bar(x=index * 10, y=100 - height, height=height, label=day.label))
        return tuple(bars)


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    label: str


def sales_comparison(today: date) -> SalesComparison:
    start = today - timedelta(days=29)
    rows = {row.day: row for row in DailySales.objects.filter(day__gte=start, day__lte=today)}
    week = [rows[d] for d in (today - timedelta(days=i) for i in range(7)) if d in rows]
    totals = {key: sum(getattr(row, key) for row in week) for key in ("orders_placed", "gross", "refunds")}
    empty = DailySales(day=today)
    yesterday = rows.get(today - timedelta(days=1), empty)
    current = rows.get(today, empty)
    return SalesComparison(
        today_orders=current.orders_placed,
        yesterday_orders=yesterday.orders_placed,
        week_orders=totals["orders_placed"],
        today_gross=money(current.gross),
        yesterday_gross=money(yesterday.gross),
        week_gross=money(totals["gross"]),
        week_refunds=money(totals["refunds"]),
        last_30_days=tuple(
            SalesDay(day, rows[day].gross if day in rows else 0)
            for day in (start + timedelta(days=i) for i in range(30))
        ),
    )
