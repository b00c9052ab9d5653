"""The order list's date hierarchy: the years and months that hold orders, found without reading every row."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.admin.test_order_admin import make_summaries

pytestmark = pytest.mark.django_db
ORDERS = "/admin/projections/ordersummary/"
ROWS = 3000


@pytest.fixture
def orders_over_the_years(users: dict[str, Any]) -> None:
    """ROWS orders in March 2024, July 2024 and January 2026 (none in 2025), on different days."""
    make_summaries(ROWS, customer_id=users["customer"].pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE projections_ordersummary SET created_at = (ARRAY["
            "  timestamptz '2024-03-01 12:00+00', timestamptz '2024-07-01 12:00+00',"
            "  timestamptz '2026-01-01 12:00+00'])[last_position % 3 + 1]"
            " + (last_position % 5) * interval '3 days'"
        )
        cursor.execute("ANALYZE projections_ordersummary")


def hierarchy(client: Client, **lookups: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The hierarchy's choices on the list page, and the queries it took to find them."""
    changelist = client.get(ORDERS, {f"created_at__{k}": v for k, v in lookups.items()}).context["cl"]
    with CaptureQueriesContext(connection) as queries:
        choices = [choice["title"] for choice in date_hierarchy(changelist)["choices"]]
    return choices, queries.captured_queries


def rows_read(sql: str) -> int:
    """How many table or index rows PostgreSQL read to answer ``sql`` (EXPLAIN ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node: dict[str, Any]) -> int:
        own = 0
        if "Scan" in node["Node Type"]:
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        return own + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def test_the_years_come_from_the_index_not_from_every_row(
    orders_over_the_years: None, users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    years, queries = hierarchy(client_as(users["support"]))

    assert years == ["2024", "2026"]
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]
    read = {q["sql"]: rows_read(q["sql"]) for q in queries}
    assert sum(read.values()) < 50, read  # a full read would be ROWS


def test_the_months_of_a_year_come_from_the_index_too(
    orders_over_the_years: None, users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    months, queries = hierarchy(client_as(users["support"]), year=2024)

    assert months == ["March 2024", "July 2024"]
    read = {q["sql"]: rows_read(q["sql"]) for q in queries}
    assert sum(read.values()) < 50, read  # a full read of the year would be 2 * ROWS / 3


def test_drilling_down_to_a_day_lists_that_days_orders(
    orders_over_the_years: None, users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    client = client_as(users["support"])

    days, _ = hierarchy(client, year=2026, month=1)
    listed = client.get(ORDERS, {"created_at__year": 2026, "created_at__month": 1, "created_at__day": 4})

    assert days == ["January 1", "January 4", "January 7", "January 10", "January 13"]
    assert listed.context["cl"].result_count == ROWS // 3 // 5
    assert {o.created_at.day for o in listed.context["cl"].result_list} == {4}
