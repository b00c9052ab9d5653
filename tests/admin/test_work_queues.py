"""The admin index's work queues, today against yesterday and the week, and the 30-day sales chart."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from projections.models import DailySales
from projections.work_queues import sales_comparison
from tests.admin.test_order_admin import numbers_listed

pytestmark = pytest.mark.django_db
STAFF = ("support", "fulfillment", "finance", "manager")


def queue_count(html: str, key: str) -> int:
    tile = html.split(f'id="queue-{key}"', 1)[1].split("</a>", 1)[0]
    return int(re.search(r'<span class="ops-value">(\d+)</span>', tile).group(1))


def queue_link(html: str, key: str) -> str:
    return html.split(f'id="queue-{key}" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")


@pytest.mark.parametrize("role", STAFF)
def test_each_queue_counts_its_orders_and_links_to_exactly_them(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    placed, paid, shipped = make_order("placed"), make_order("paid"), make_order("shipped")
    make_order("delivered")
    make_order("draft")
    client = client_as(users[role])
    html = client.get("/admin/").content.decode()

    for key, order_id in (("unpaid", placed), ("to-ship", paid), ("in-transit", shipped)):
        assert queue_count(html, key) == 1, key
        listed = numbers_listed(client.get(queue_link(html, key)))
        assert listed == {
            client.get(f"/admin/projections/ordersummary/{order_id}/change/").context["original"].number
        }


def test_customers_see_no_dashboard(users: dict[str, Any], client_as: Callable[[Any], Client]) -> None:
    response = client_as(users["customer"]).get("/admin/", follow=True)
    assert 'id="dashboard-queues"' not in response.content.decode()


def test_today_is_compared_with_yesterday_and_the_last_seven_days() -> None:
    today = timezone.localdate()
    for days_ago, placed, gross, refunds in (
        (0, 2, 2500, 0),
        (1, 3, 3000, 500),
        (6, 1, 1000, 0),
        (7, 9, 9000, 0),
    ):
        DailySales.objects.create(
            day=today - timedelta(days=days_ago),
            orders_placed=placed,
            gross=gross,
            refunds=refunds,
            net=gross - refunds,
        )

    sales = sales_comparison(today)

    assert (sales.today_orders, sales.yesterday_orders, sales.week_orders) == (2, 3, 6)  # day 7 is outside
    assert (sales.today_gross, sales.yesterday_gross, sales.week_gross) == (
        "25.00 USD",
        "30.00 USD",
        "65.00 USD",
    )
    assert sales.week_refunds == "5.00 USD"
    assert len(sales.last_30_days) == 30 and sales.last_30_days[-1].day == today
    bars = sales.bars
    assert bars[-8].height == 100 and bars[-8].y == 0  # the best day fills the chart
    assert bars[-1].height == round(100 * 2500 / 9000) and bars[0].height == 0


def test_money_figures_and_the_chart_only_for_roles_that_see_sales(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    finance = client_as(users["finance"]).get("/admin/").content.decode()
    fulfillment = client_as(users["fulfillment"]).get("/admin/").content.decode()

    assert 'id="dashboard-chart"' in finance and finance.count("<rect ") == 30
    assert 'id="dashboard-chart"' not in fulfillment and 'id="dashboard-revenue"' not in fulfillment
