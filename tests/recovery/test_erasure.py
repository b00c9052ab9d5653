"""Erasure (crypto-shredding): the personal data is gone everywhere — API, read tables, rebuilds, backups,
restores of older backups — while orders and totals remain."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import create_user
from orders import commands as c
from orders import store
from orders.events import ERASED, CustomerDataErased, customer_stream_id
from orders.handlers import dispatch
from projections.models import CustomerStats, DailySales, OrderSummary
from projections.rebuild import rebuild
from recovery.archive import ArchiveReader
from recovery.backup import take_backup
from recovery.keys import backup_key, backup_key_id
from recovery.models import DataKey
from recovery.personal_data import CustomerDataErased as Refused
from recovery.restore import restore
from tests.conftest import project_everything
from tests.recovery.conftest import on_database

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "A-long-test-passphrase-42"
ADDRESS = {
    "name": "Ottoline Vexbridge",
    "line1": "9 Quietus Crescent",
    "line2": "Flat Zephyr",
    "city": "Mirkwood-on-Sea",
    "postal_code": "QX7 3VV",
    "country": "GB",
}
OTHER_ADDRESS = {
    "name": "Someone Else",
    "line1": "1 Main St",
    "city": "Leeds",
    "postal_code": "LS1",
    "country": "GB",
}
# Every piece of the customer's personal data, as it would appear in plain text anywhere.
SECRETS = [
    "Ottoline",
    "Vexbridge",
    "ottoline.vexbridge",
    "Quietus Crescent",
    "Flat Zephyr",
    "Mirkwood",
    "QX7 3VV",
]


@pytest.fixture
def victim(db: None) -> Any:
    return create_user(
        username="ottoline.vexbridge",
        role=Role.CUSTOMER,
        password=PASSWORD,
        email="ottoline.vexbridge@example.org",
        first_name="Ottoline",
        last_name="Vexbridge",
    )


@pytest.fixture
def shop(victim: Any, make_user: Callable[..., Any], make_product: Callable[..., Any]) -> dict[str, Any]:
    """Two orders of the victim (one paid, one refunded in part) and one of another customer."""
    manager, other = make_user(Role.MANAGER), make_user(Role.CUSTOMER)
    sku = make_product(price=2500).sku
    orders = []
    for owner in (victim, victim, other):
        order_id = uuid4()
        address = ADDRESS if owner == victim else OTHER_ADDRESS
        dispatch(
            c.CreateOrder(order_id=order_id, customer_id=owner.pk, lines={sku: 2}, shipping_address=address),
            actor=owner,
        )
        dispatch(c.PlaceOrder(order_id=order_id), actor=owner)
        dispatch(c.RecordPayment(order_id=order_id, amount=5000, reference=f"P-{order_id}"), actor=manager)
        orders.append(order_id)
    dispatch(c.IssueRefund(order_id=orders[1], amount=1000, reason="damaged"), actor=manager)
    project_everything()
    return {"manager": manager, "other": other, "orders": orders, "sku": sku}


def plaintext_hits() -> list[str]:
    """Every text, JSON and binary column of every table in the database, searched for the secrets."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea', 'character')"
        )
        columns = cursor.fetchall()
        hits = []
        for table, column in columns:
            for secret in SECRETS:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608
                    [f"%{secret}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column}: {secret}")
    return hits


def totals() -> dict[str, Any]:
    return {
        "orders": sorted(
            OrderSummary.objects.values_list("id", "total", "amount_paid", "amount_refunded", "status")
        ),
        "daily": sorted(DailySales.objects.values_list("day", "orders_placed", "gross", "refunds", "net")),
        "customers": sorted(
            CustomerStats.objects.values_list("customer_id", "orders_placed", "lifetime_value")
        ),
    }


def decrypted_backup(path: Any) -> bytes:
    key = backup_key()
    with open(path, "rb") as file:
        reader = ArchiveReader(file, key=key, key_id=backup_key_id(key))
        return b"".join(block for section in reader.sections() for block in section.blocks())


def erase_through_the_api(user: Any, customer_id: int) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/customers/{customer_id}/erase/")


def test_only_managers_may_erase_and_only_customers_can_be_erased(
    shop: dict[str, Any], victim: Any, make_user: Callable[..., Any]
) -> None:
    for role in (Role.SUPPORT, Role.FINANCE, Role.FULFILLMENT, Role.CUSTOMER):
        response = erase_through_the_api(make_user(role), victim.pk)
        assert response.status_code == 403, role
        assert response.json()["error"]["code"] == "permission_denied"
    assert erase_through_the_api(shop["manager"], shop["manager"].pk).status_code == 404
    assert erase_through_the_api(shop["manager"], 999_999).status_code == 404
    assert APIClient().post(f"/api/customers/{victim.pk}/erase/").status_code == 401
    assert not DataKey.objects.filter(customer_id=victim.pk, erased_at__isnull=False).exists()


def test_after_erasure_the_personal_data_is_nowhere_and_the_totals_are_unchanged(
    shop: dict[str, Any], victim: Any, scratch_db: str, migrated_template: str
) -> None:
    before_backup = take_backup()
    assert not any(secret.encode() in before_backup.path.read_bytes() for secret in SECRETS)
    assert [hit for hit in plaintext_hits() if not hit.startswith("accounts_user.")] == [
        hit for hit in plaintext_hits() if hit.startswith("projections_ordersummary.")
    ]  # before: in clear only in the user row and the live read model, never in the log
    before = totals()

    response = erase_through_the_api(shop["manager"], victim.pk)

    assert response.status_code == 200, response.content
    assert response.json() == {"customer": victim.pk, "erased": True, "already_erased": False}
    assert response["X-Consistency-Token"]
    project_everything()
    assert plaintext_hits() == []
    assert totals() == before
    summaries = OrderSummary.objects.filter(customer_id=victim.pk)
    assert {(s.customer_name, s.customer_email) for s in summaries} == {(ERASED, ERASED)}
    assert all(s.shipping_address == dict.fromkeys(ADDRESS, ERASED) for s in summaries)
    other = OrderSummary.objects.get(pk=shop["orders"][2])
    assert other.shipping_address["line1"] == "1 Main St"  # another customer keeps theirs

    # The API, from the log and from the read model.
    client = APIClient()
    client.force_authenticate(shop["manager"])
    order = client.get(f"/api/orders/{shop['orders'][0]}/").json()
    assert order["shipping_address"] == dict.fromkeys(ADDRESS, ERASED) and order["total"] == "50.00"
    events = client.get(f"/api/orders/{shop['orders'][0]}/events/").json()
    assert events[0]["payload"]["customer_name"] == ERASED
    past = client.get(f"/api/orders/{shop['orders'][0]}/?as_of_version=3").json()
    assert past["shipping_address"] == dict.fromkeys(ADDRESS, ERASED)
    assert not APIClient().login(username="ottoline.vexbridge", password=PASSWORD)

    # A rebuild reads the log the same way.
    for name in ("order_summary", "daily_sales", "customer_stats"):
        rebuild(name)
    assert plaintext_hits() == [] and totals() == before

    # A new backup holds no trace, decrypted or not.
    after_backup = take_backup()
    content = decrypted_backup(after_backup.path)
    assert not any(secret.encode() in content for secret in SECRETS)

    # Restoring the backup taken BEFORE the erasure does not bring the data back (the ledger).
    with on_database(scratch_db):
        report = restore([before_backup.path])
        assert report.erasures_reapplied == 1
        assert plaintext_hits() == []
        assert totals() == before
        assert set(
            OrderSummary.objects.filter(customer_id=victim.pk).values_list("customer_name", flat=True)
        ) == {ERASED}


def test_erasing_twice_changes_nothing_and_the_erased_customer_gets_no_new_personal_data(
    shop: dict[str, Any], victim: Any
) -> None:
    out = io.StringIO()
    call_command("erase_customer", str(victim.pk), stdout=out)
    assert "erased (event at position" in out.getvalue()
    out = io.StringIO()
    call_command("erase_customer", str(victim.pk), stdout=out)
    assert "erased already" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_type, metadata->>'actor' FROM event_log WHERE stream_id = %s",
            [customer_stream_id(victim.pk)],
        )
        assert cursor.fetchall() == [(CustomerDataErased.__name__, "system")]

    # Their orders can still change, but take no new personal data: refused, nothing written.
    order_id = shop["orders"][0]
    versions = len(store.load(order_id))
    with pytest.raises(Refused, match="erased"):
        dispatch(c.SetShippingAddress(order_id=order_id, address=ADDRESS), actor=shop["manager"])
    assert len(store.load(order_id)) == versions
    dispatch(c.AddNote(order_id=order_id, text="still works"), actor=shop["manager"])
