"""Who gets into the admin and what each role finds there (SPEC §5, §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from tests.admin.conftest import PASSWORD, order_url

pytestmark = pytest.mark.django_db

CHANGELISTS = {
    "orders.product": "/admin/orders/product/",
    "orders.storedevent": "/admin/orders/storedevent/",
    "orders.idempotencyrecord": "/admin/orders/idempotencyrecord/",
    "projections.ordersummary": "/admin/projections/ordersummary/",
    "projections.dailysales": "/admin/projections/dailysales/",
    "projections.customerstats": "/admin/projections/customerstats/",
    "projections.projectioncheckpoint": "/admin/projections/projectioncheckpoint/",
    "accounts.user": "/admin/accounts/user/",
    "auth.group": "/admin/auth/group/",
}
EVERY_STAFF_ROLE = {"orders.product", "orders.storedevent", "projections.ordersummary"}
SALES_REPORTS = {"projections.dailysales", "projections.customerstats"}
VISIBLE = {
    "support": EVERY_STAFF_ROLE,
    "fulfillment": EVERY_STAFF_ROLE,
    "finance": EVERY_STAFF_ROLE | SALES_REPORTS,
    # and the backups of the recovery app, when it is installed (it registers its own admin)
    "manager": set(CHANGELISTS)
    | ({"recovery.backuprecord"} if apps.is_installed("recovery") else set())
    | (
        {"subscriptions.endpoint", "subscriptions.delivery", "subscriptions.redeliveryrequest"}
        if apps.is_installed("subscriptions")
        else set()
    ),
}
STAFF = sorted(VISIBLE)


def models_on_index(response: Any) -> dict[str, dict[str, bool]]:
    return {
        f"{app['app_label']}.{model['object_name'].lower()}": model["perms"]
        for app in response.context["app_list"]
        for model in app["models"]
    }


@pytest.mark.parametrize("role", STAFF)
def test_each_role_sees_exactly_its_models_on_the_index(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    response = client_as(users[role]).get("/admin/")

    assert response.status_code == 200
    assert set(models_on_index(response)) == VISIBLE[role]


@pytest.mark.parametrize("role", STAFF)
def test_changelists_answer_by_role(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    client = client_as(users[role])

    answers = {name: client.get(url).status_code for name, url in CHANGELISTS.items()}

    assert answers == {name: 200 if name in VISIBLE[role] else 403 for name in CHANGELISTS}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("support", {"view"}),
        ("finance", {"view"}),
        ("fulfillment", {"view", "change"}),  # stock only, see test_products_admin
        ("manager", {"view", "change", "add"}),
    ],
)
def test_product_rights_by_role(
    role: str, expected: set[str], users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    perms = models_on_index(client_as(users[role]).get("/admin/"))["orders.product"]

    assert {name for name, allowed in perms.items() if allowed} == expected


@pytest.mark.parametrize("role", STAFF)
def test_read_models_and_the_log_are_view_only_for_everyone(
    role: str, users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    perms = models_on_index(client_as(users[role]).get("/admin/"))
    read_only = {"orders.storedevent", "projections.ordersummary", *SALES_REPORTS} & VISIBLE[role]

    for name in read_only:
        assert {p for p, allowed in perms[name].items() if allowed} == {"view"}, name


def test_a_customer_cannot_sign_in(users: dict[str, Any]) -> None:
    client = Client()

    response = client.post(
        "/admin/login/?next=/admin/", {"username": users["customer"].username, "password": PASSWORD}
    )

    assert response.status_code == 200  # the form again, with its error
    assert "correct username and password for a staff account" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_staff_sign_in_with_their_password(users: dict[str, Any]) -> None:
    client = Client()

    response = client.post(
        "/admin/login/?next=/admin/", {"username": users["support"].username, "password": PASSWORD}
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_signed_in_customer_is_sent_to_the_login_page(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("placed")
    client = client_as(users["customer"])

    for url in ("/admin/", CHANGELISTS["projections.ordersummary"], order_url(order_id)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_a_customer_with_is_staff_forced_on_still_sees_no_orders(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    """The admin is for staff roles: the is_staff flag alone opens nothing, not even one's own orders,
    and certainly not another customer's."""
    others = make_order("paid", customer=users["other_customer"])
    own = make_order("paid", customer=users["customer"])
    customer = users["customer"]
    customer.is_staff = True
    customer.save(update_fields=["is_staff"])
    client = client_as(customer)

    index = client.get("/admin/")
    assert index.status_code == 200
    assert models_on_index(index) == {}
    assert 'id="dashboard"' not in index.content.decode()
    for url in CHANGELISTS.values():
        assert client.get(url).status_code == 403, url
    assert client.get(order_url(others)).status_code == 404
    assert client.get(order_url(own)).status_code == 404
    assert client.get(order_url(others, "actions/cancel/")).status_code == 404
    assert (
        client.post(order_url(own, "actions/cancel/"), {"reason": "x", "seen_version": 4}).status_code == 404
    )


def test_anonymous_visitors_are_sent_to_the_login_page() -> None:
    response = Client().get(CHANGELISTS["orders.storedevent"])

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
