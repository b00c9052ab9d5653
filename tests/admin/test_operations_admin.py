"""Projections, sales reports, idempotency keys, users and roles in the admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from orders.models import IdempotencyRecord
from projections import tasks
from projections.admin.operations import newest_position, rebuild_progress
from projections.models import CustomerStats, DailySales, ProjectionCheckpoint
from tests.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

PROJECTIONS = "/admin/projections/projectioncheckpoint/"
USERS = "/admin/accounts/user/"


def test_projections_show_position_lag_state_and_last_error(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    make_order("paid", project=False)  # events the projections have not read
    ProjectionCheckpoint.objects.create(
        name="daily_sales",
        state=ProjectionCheckpoint.State.FAILED,
        last_error="KeyError: 'total'",
        position=3,
    )

    response = client_as(users["manager"]).get(PROJECTIONS)

    html = response.content.decode()
    rows = {cp.name: cp for cp in response.context["cl"].result_list}
    assert set(rows) == {"order_summary", "daily_sales", "customer_stats"}  # listed before they ever ran
    assert rows["daily_sales"].status.lag_events > 0
    assert "KeyError: &#x27;total&#x27;" in html
    assert ">failed<" in html
    assert " events, " in html  # the lag column


def test_a_manager_rebuilds_a_projection_in_the_background(
    users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(tasks.rebuild_projection, "delay", queued.append)
    client = client_as(users["manager"])
    client.get(PROJECTIONS)

    response = client.post(
        PROJECTIONS, {"action": "rebuild", "_selected_action": ["daily_sales"]}, follow=True
    )

    assert queued == ["daily_sales"]
    assert any("Rebuild of daily_sales queued" in message for message in messages_of(response))


def test_a_manager_retries_a_failed_projection(
    users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    nudged: list[bool] = []
    monkeypatch.setattr(tasks, "nudge", lambda countdown=None: nudged.append(True))
    ProjectionCheckpoint.objects.create(
        name="order_summary", state=ProjectionCheckpoint.State.FAILED, last_error="boom", failed_position=9
    )
    client = client_as(users["manager"])

    response = client.post(
        PROJECTIONS, {"action": "retry", "_selected_action": ["order_summary", "daily_sales"]}, follow=True
    )

    checkpoint = ProjectionCheckpoint.objects.get(name="order_summary")
    assert (checkpoint.state, checkpoint.last_error, checkpoint.failed_position) == ("running", "", None)
    assert nudged == [True]
    assert any("Retrying order_summary" in message for message in messages_of(response))


@pytest.mark.parametrize("role", ["support", "fulfillment", "finance"])
def test_only_managers_operate_projections(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(tasks.rebuild_projection, "delay", queued.append)
    ProjectionCheckpoint.objects.create(name="daily_sales")

    response = client_as(users[role]).post(
        PROJECTIONS, {"action": "rebuild", "_selected_action": ["daily_sales"]}
    )

    assert response.status_code == 403
    assert queued == []


def test_finance_sees_daily_sales_as_money(users: dict[str, Any], client_as: Callable[[Any], Client]) -> None:
    DailySales.objects.create(day=timezone.localdate(), orders_placed=3, gross=7500, refunds=500, net=7000)
    CustomerStats.objects.create(customer_id=users["customer"].pk, orders_placed=3, lifetime_value=7000)
    client = client_as(users["finance"])

    sales = client.get("/admin/projections/dailysales/").content.decode()
    stats = client.get("/admin/projections/customerstats/").content.decode()

    assert "75.00 USD" in sales and ">5.00 USD<" in sales and "70.00 USD" in sales
    assert f"{users['customer'].username} (id {users['customer'].pk})" in stats
    assert "70.00 USD" in stats


def test_idempotency_keys_are_read_only_for_managers(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    record = IdempotencyRecord.objects.create(
        user=users["customer"], key="key-1", fingerprint="f" * 64, status_code=201, response_body={"id": "x"}
    )
    client = client_as(users["manager"])

    listing = client.get("/admin/orders/idempotencyrecord/")
    detail = client.get(f"/admin/orders/idempotencyrecord/{record.pk}/change/")

    assert "key-1" in listing.content.decode()
    assert "&quot;id&quot;: &quot;x&quot;" in detail.content.decode()
    assert (
        client.post(f"/admin/orders/idempotencyrecord/{record.pk}/change/", {"key": "y"}).status_code == 403
    )
    assert (
        client.post(f"/admin/orders/idempotencyrecord/{record.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get("/admin/orders/idempotencyrecord/add/").status_code == 403
    assert IdempotencyRecord.objects.get(pk=record.pk).key == "key-1"


def test_a_manager_creates_a_user_whose_admin_access_follows_the_role(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    client = client_as(users["manager"])
    support, customer = (Group.objects.get(name=name) for name in ("support", "customer"))

    created = client.post(
        f"{USERS}add/",
        {
            "username": "sam",
            "email": "sam@example.com",
            "groups": [support.pk],
            "usable_password": "true",
            "password1": "Another-long-passphrase-7",
            "password2": "Another-long-passphrase-7",
        },
    )
    sam = get_user_model().objects.get(username="sam")
    assert created.status_code == 302
    assert sam.is_staff
    assert list(sam.groups.values_list("name", flat=True)) == ["support"]

    form = client.get(f"{USERS}{sam.pk}/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"groups": [customer.pk], "is_active": "on"})
    changed = client.post(f"{USERS}{sam.pk}/change/", data)

    sam.refresh_from_db()
    assert changed.status_code == 302, changed.context["adminform"].form.errors
    assert not sam.is_staff
    assert list(sam.groups.values_list("name", flat=True)) == ["customer"]


def test_the_users_list_shows_roles(users: dict[str, Any], client_as: Callable[[Any], Client]) -> None:
    html = client_as(users["manager"]).get(USERS).content.decode()

    assert f"{users['finance'].username}</a></th>" in html
    assert "fulfillment" in html


def test_a_manager_does_not_edit_a_superuser(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    root = get_user_model().objects.create_superuser("root", "root@example.com", "A-long-test-passphrase-42")
    client = client_as(users["manager"])

    assert client.get(f"{USERS}{root.pk}/change/").status_code == 200  # view only
    assert client.post(f"{USERS}{root.pk}/change/", {"username": "owned"}).status_code == 403
    assert client.post(f"{USERS}{root.pk}/password/", {"password1": "x", "password2": "x"}).status_code == 403
    assert client.post(f"{USERS}{root.pk}/delete/", {"post": "yes"}).status_code == 403
    root.refresh_from_db()
    assert root.username == "root"


@pytest.mark.parametrize("role", ["support", "fulfillment", "finance"])
def test_only_managers_manage_users(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    client = client_as(users[role])

    assert client.get(USERS).status_code == 403
    assert client.get(f"{USERS}add/").status_code == 403
    assert client.post(f"{USERS}{users['customer'].pk}/change/", {"username": "x"}).status_code == 403


def test_roles_are_listed_with_their_members(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    client = client_as(users["manager"])

    response = client.get("/admin/auth/group/")

    counts = {group.name: group.member_count for group in response.context["cl"].result_list}
    assert counts["customer"] == 2 and counts["support"] == 1
    assert client.get("/admin/auth/group/add/").status_code == 403


def test_a_rebuild_shows_its_progress_as_a_percentage_and_the_page_refreshes(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    make_order("placed")
    client = client_as(users["manager"])
    client.get(PROJECTIONS)  # the checkpoints exist
    newest = newest_position()
    assert newest > 0

    idle = client.get(PROJECTIONS).content.decode()
    ProjectionCheckpoint.objects.filter(name="daily_sales").update(
        state=ProjectionCheckpoint.State.REBUILDING, rebuild_position=newest // 2
    )
    rebuilding = client.get(PROJECTIONS).content.decode()

    assert 'http-equiv="refresh"' not in idle
    assert '<meta http-equiv="refresh" content="5">' in rebuilding
    assert f"{rebuild_progress(newest // 2, newest)}" in rebuilding


@pytest.mark.parametrize(
    ("position", "newest", "shown"),
    [
        (0, 0, "at event 0"),
        (4200, 10000, "42 % (event 4,200 of 10,000)"),
        (120, 100, "100 % (event 120 of 100)"),
    ],
)
def test_rebuild_progress_text(position: int, newest: int, shown: str) -> None:
    assert rebuild_progress(position, newest) == shown
