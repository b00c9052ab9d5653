"""Erasure (crypto-shredding): the personal data is gone everywhere — API, read tables, rebuilds, backups,
restores of older backups — while orders and totals remain."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import signal
import subprocess  # nosec B404  # the erasure in a process of its own, to kill it
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import create_user
from orders import commands as c
from orders import store
from orders.api import commands as command_api
from orders.events import ERASED, CustomerDataErased, customer_stream_id
from orders.handlers import dispatch, dispatch_idempotent
from orders.models import IdempotencyRecord
from projections.models import CustomerStats, DailySales, OrderSummary
from projections.rebuild import rebuild
from recovery.archive import ArchiveReader
from recovery.backup import take_backup
from recovery.erasure import erase_customer, erased_in_ledger, reapply_ledger
from recovery.keys import backup_key, backup_key_id, master_keys
from recovery.models import DataKey
from recovery.personal_data import CustomerDataErased as Refused
from recovery.personal_data import unwrap
from recovery.restore import restore
from tests.addresses import ADDRESS as SHARED_ADDRESS
from tests.addresses import OTHER_ADDRESS
from tests.conftest import project_everything, run_in_threads
from tests.projections.test_celery_worker import wait_for
from tests.recovery.conftest import on_database

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]

PASSWORD = "A-long-test-passphrase-42"
# The victim's address: fields of their own, so any match of SECRETS below can only be theirs.
ADDRESS = {
    **SHARED_ADDRESS,
    "name": "Ottoline Vexbridge",
    "line1": "9 Quietus Crescent",
    "line2": "Flat Zephyr",
    "city": "Mirkwood-on-Sea",
    "postal_code": "QX7 3VV",
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
    assert erase_through_the_api(shop["manager"], 2**70).status_code == 404  # beyond a bigint: nobody
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
    assert other.shipping_address["line1"] == OTHER_ADDRESS["line1"]  # another customer keeps theirs

    # The API, from the log and from the read model.
    client = APIClient()
    client.force_authenticate(shop["manager"])
    order = client.get(f"/api/orders/{shop['orders'][0]}/").json()
    assert order["shipping_address"] == dict.fromkeys(ADDRESS, ERASED) and order["total"] == "50.00"
    events = client.get(f"/api/orders/{shop['orders'][0]}/events/").json()["results"]
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


# --- erasure racing the writers of the customer's personal data ------------------------------------


def in_background(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a real thread with its own connection; its result or exception lands in the list."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(run_in_threads(lambda _: target(), 1)[0]))
    thread.start()
    return thread, outcome


def decryptable_with_the_master_key(customer_id: int) -> list[Any]:
    """Every personal value of the customer that the master key still opens, read straight from the
    tables (no tombstone logic of the application): what someone holding a backup and the key could do."""
    masters = master_keys()
    ciphers = {
        key.pk: AESGCM(unwrap(key.wrapped_key, customer_id=customer_id, master=masters[key.master_key_id]))
        for key in DataKey.objects.filter(customer_id=customer_id, wrapped_key__isnull=False)
    }
    opened = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT stream_id, event_type, payload::text FROM event_log")
        rows = cursor.fetchall()
    for stream_id, event_type, payload in rows:
        for name, value in json.loads(payload).items():
            leaves = value.items() if isinstance(value, dict) else [(None, value)]
            for leaf_key, leaf in leaves:
                if not (isinstance(leaf, str) and leaf.startswith("pd1:")):
                    continue
                key_id, encoded = leaf[4:].split(":", 1)
                if int(key_id) not in ciphers:
                    continue
                path = name if leaf_key is None else f"{name}.{leaf_key}"
                aad = f"pd1|{stream_id}|{event_type}|{path}|{customer_id}|{key_id}".encode()
                blob = base64.b64decode(encoded)
                opened.append(json.loads(ciphers[int(key_id)].decrypt(blob[:12], blob[12:], aad)))
    return opened


class HeldOpen:
    """The bus's idempotency step as a test seam: after the append (and the wrapped step's own
    ``remember``) it holds the command's transaction open until ``release`` is set."""

    def __init__(self, holding: threading.Event, release: threading.Event, *, inner: Any = None) -> None:
        self.holding, self.release, self.inner = holding, release, inner

    def claim(self) -> Any:
        return None if self.inner is None else self.inner.claim()

    def remember(self, result: Any) -> Any:
        answer = None if self.inner is None else self.inner.remember(result)
        self.holding.set()
        assert self.release.wait(20)
        return answer


def test_an_erasure_waits_for_the_writers_in_flight_then_nothing_of_the_customer_can_be_read(
    victim: Any, make_user: Callable[..., Any], make_product: Callable[..., Any], monkeypatch: Any
) -> None:
    """A CreateOrder of the new customer (their first data key inserted, not committed) and a keyed
    request whose idempotency record holds their address are both open when the erasure starts."""
    manager, sku = make_user(Role.MANAGER), make_product().sku
    holding = {"create": threading.Event(), "keyed": threading.Event()}
    may_commit = threading.Event()

    real_dispatch = command_api.dispatch_idempotent

    def dispatch_and_hold(command: Any, **kwargs: Any) -> Any:  # the API's dispatch, held after the record
        held = HeldOpen(holding["keyed"], may_commit, inner=kwargs["idempotency"])
        return real_dispatch(command, **{**kwargs, "idempotency": held})

    monkeypatch.setattr(command_api, "dispatch_idempotent", dispatch_and_hold)
    created_order = uuid4()

    def create_order() -> Any:
        command = c.CreateOrder(
            order_id=created_order, customer_id=victim.pk, lines={sku: 1}, shipping_address=ADDRESS
        )
        return dispatch_idempotent(command, actor=victim, idempotency=HeldOpen(holding["create"], may_commit))

    def keyed_request() -> Any:
        client = APIClient()
        client.force_authenticate(victim)
        body = {"lines": [{"sku": sku, "quantity": 2}], "shipping_address": ADDRESS}
        return client.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="first-order")

    writers = [in_background(create_order), in_background(keyed_request)]
    assert holding["create"].wait(10) and holding["keyed"].wait(10)
    assert DataKey.objects.filter(customer_id=victim.pk).count() == 0  # not committed: invisible here

    eraser, erased = in_background(lambda: erase_customer(victim.pk, actor=manager))
    # The erasure must wait for both writers; as found, it finished at once without seeing them.
    wait_for(lambda: bool(erased) or advisory_lock_waiters() > 0, what="the erasure", timeout=10)
    may_commit.set()
    for thread, _ in [*writers, (eraser, erased)]:
        thread.join(30)
        assert not thread.is_alive()
    (created,), (response,) = writers[0][1], writers[1][1]
    assert not isinstance(created, BaseException), created
    assert response.status_code == 201, response.content
    assert not isinstance(erased[0], BaseException), erased[0]

    assert decryptable_with_the_master_key(victim.pk) == []
    assert DataKey.objects.filter(customer_id=victim.pk).exclude(wrapped_key=None).count() == 0
    project_everything()
    assert plaintext_hits() == []  # idempotency records, read tables, the user row: nothing in clear
    admin = Client()
    admin.force_login(manager)
    for order_id in (created_order, response.json()["id"]):
        page = admin.get(f"/admin/projections/ordersummary/{order_id}/change/")
        assert page.status_code == 200
        assert not [secret for secret in SECRETS if secret in page.content.decode()]
    content = decrypted_backup(take_backup().path)  # a backup taken afterwards
    assert not [secret for secret in SECRETS if secret.encode() in content]


def advisory_lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return int(cursor.fetchone()[0])


def stored_addresses(user: Any) -> list[Any]:
    return [
        record.response_body.get("shipping_address") for record in IdempotencyRecord.objects.filter(user=user)
    ]


@pytest.fixture
def victims_order(victim: Any, make_product: Callable[..., Any]) -> Any:
    """An order of the victim's with their address: every answer about it holds the address."""
    order_id = uuid4()
    dispatch(c.CreateOrder(order_id=order_id, customer_id=victim.pk, shipping_address=ADDRESS), actor=victim)
    return order_id


def add_line_with_a_key(user: Any, order_id: Any, sku: str, key: str) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    body = {"sku": sku, "quantity": 1}
    return client.post(f"/api/orders/{order_id}/lines/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_keyed_request_in_flight_leaves_no_address_in_its_idempotency_record(
    victim: Any,
    victims_order: Any,
    make_user: Callable[..., Any],
    make_product: Callable[..., Any],
    monkeypatch: Any,
) -> None:
    """The request writes no personal event (it adds a line), only a record whose answer holds the
    address: the record alone must hold the erasure back."""
    manager, sku = make_user(Role.MANAGER), make_product().sku
    holding, may_commit = threading.Event(), threading.Event()
    real_dispatch = command_api.dispatch_idempotent

    def dispatch_and_hold(command: Any, **kwargs: Any) -> Any:
        held = HeldOpen(holding, may_commit, inner=kwargs["idempotency"])
        return real_dispatch(command, **{**kwargs, "idempotency": held})

    monkeypatch.setattr(command_api, "dispatch_idempotent", dispatch_and_hold)
    writer, answered = in_background(lambda: add_line_with_a_key(victim, victims_order, sku, "add-1"))
    assert holding.wait(10)
    eraser, erased = in_background(lambda: erase_customer(victim.pk, actor=manager))
    wait_for(lambda: bool(erased) or advisory_lock_waiters() > 0, what="the erasure", timeout=10)
    may_commit.set()
    for thread in (writer, eraser):
        thread.join(30)
        assert not thread.is_alive()

    assert answered[0].status_code == 200, answered[0].content
    assert not isinstance(erased[0], BaseException), erased[0]
    assert stored_addresses(victim) == [dict.fromkeys(ADDRESS, ERASED)]
    project_everything()
    assert plaintext_hits() == []


def test_writers_that_wait_for_an_erasure_see_it_when_it_commits(
    victim: Any, victims_order: Any, make_user: Callable[..., Any], make_product: Callable[..., Any]
) -> None:
    """The erasure holds its lock (key shredded, not committed) while a CreateOrder and a keyed request
    of the customer's arrive: both wait, and then neither records anything of the customer in clear —
    although each statement that waited took its snapshot before the erasure committed."""
    manager, sku = make_user(Role.MANAGER), make_product().sku
    holding, may_commit = threading.Event(), threading.Event()

    erasure = c.EraseCustomerData(customer_id=victim.pk)
    held = HeldOpen(holding, may_commit)
    eraser, erased = in_background(lambda: dispatch_idempotent(erasure, actor=manager, idempotency=held))
    assert holding.wait(10)
    late_order = uuid4()
    creator, created = in_background(
        lambda: dispatch(
            c.CreateOrder(
                order_id=late_order, customer_id=victim.pk, lines={sku: 1}, shipping_address=ADDRESS
            ),
            actor=manager,
        )
    )
    writer, answered = in_background(lambda: add_line_with_a_key(victim, victims_order, sku, "add-2"))
    wait_for(lambda: advisory_lock_waiters() >= 2, what="both writers to wait for the erasure", timeout=10)
    may_commit.set()
    for thread in (eraser, creator, writer):
        thread.join(30)
        assert not thread.is_alive()

    assert not isinstance(erased[0], BaseException), erased[0]
    assert isinstance(created[0], Refused), created[0]  # nothing written for the erased customer
    assert store.load(late_order) == []
    assert answered[0].status_code == 200, answered[0].content  # re-run from a fresh load
    assert answered[0].json()["shipping_address"] == dict.fromkeys(ADDRESS, ERASED)
    assert stored_addresses(victim) == [dict.fromkeys(ADDRESS, ERASED)]
    assert DataKey.objects.filter(customer_id=victim.pk).exclude(wrapped_key=None).count() == 0
    assert decryptable_with_the_master_key(victim.pk) == []


# --- one command of the bus, whichever way it comes ------------------------------------------------


def writing_transactions(customer_id: int) -> set[int]:
    """The transactions that wrote the erasure's rows: its event, the tombstone, the anonymised user."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id::text::bigint %% 4294967296 FROM event_log WHERE stream_id = %s"
            " UNION SELECT xmin::text::bigint FROM recovery_datakey WHERE customer_id = %s"
            " UNION SELECT xmin::text::bigint FROM accounts_user WHERE id = %s",
            [customer_stream_id(customer_id), customer_id, customer_id],
        )
        return {xid for (xid,) in cursor.fetchall()}


def erasure_events(customer_id: int) -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_type, metadata->>'command', metadata->>'actor' FROM event_log WHERE stream_id = %s",
            [customer_stream_id(customer_id)],
        )
        return cursor.fetchall()


def test_two_erasures_at_once_record_one_event(shop: dict[str, Any], victim: Any) -> None:
    results = run_in_threads(lambda _: erase_customer(victim.pk, actor=shop["manager"]), 2)

    assert not [result for result in results if isinstance(result, BaseException)], results
    assert sorted(result.already_erased for result in results) == [False, True]
    assert len(erasure_events(victim.pk)) == 1
    assert decryptable_with_the_master_key(victim.pk) == []


def test_an_api_erasure_is_one_command_of_the_bus_and_its_idempotency_key_replays(
    shop: dict[str, Any], victim: Any
) -> None:
    client = APIClient()
    client.force_authenticate(shop["manager"])
    url, request_id = f"/api/customers/{victim.pk}/erase/", str(uuid4())

    first = client.post(url, HTTP_IDEMPOTENCY_KEY="erase-1", HTTP_X_REQUEST_ID=request_id)
    again = client.post(url, HTTP_IDEMPOTENCY_KEY="erase-1")
    other_key = client.post(url, HTTP_IDEMPOTENCY_KEY="erase-2")

    assert first.status_code == again.status_code == other_key.status_code == 200
    assert first.json() == again.json() == {"customer": victim.pk, "erased": True, "already_erased": False}
    assert (
        again["Idempotent-Replayed"] == "true"
        and again["X-Consistency-Token"] == first["X-Consistency-Token"]
    )
    assert other_key.json()["already_erased"] is True and "Idempotent-Replayed" not in other_key
    assert erasure_events(victim.pk) == [
        ("CustomerDataErased", "EraseCustomerData", f"user:{shop['manager'].pk}")
    ]
    assert len(writing_transactions(victim.pk)) == 1  # event, tombstone and user row: one transaction
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT metadata->>'correlation_id' FROM event_log WHERE stream_id = %s",
            [customer_stream_id(victim.pk)],
        )
        assert cursor.fetchone()[0] == request_id


def test_the_management_command_is_one_command_of_the_bus(shop: dict[str, Any], victim: Any) -> None:
    call_command("erase_customer", str(victim.pk), stdout=io.StringIO())

    assert erasure_events(victim.pk) == [("CustomerDataErased", "EraseCustomerData", "system")]
    assert len(writing_transactions(victim.pk)) == 1
    with pytest.raises(CommandError, match="customer not found"):
        call_command("erase_customer", str(shop["manager"].pk), stdout=io.StringIO())


def test_an_erasure_killed_while_it_waits_for_a_writer_changes_nothing(
    shop: dict[str, Any], victim: Any, backup_dir: Any
) -> None:
    """``manage.py erase_customer`` in a process of its own waits for a writer of the customer's personal
    data in flight, and is killed (SIGKILL) there; then it runs again to the end."""
    holding, may_commit = threading.Event(), threading.Event()

    def writer_in_flight() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT lock_personal_data(%s)", [victim.pk])
            holding.set()
            assert may_commit.wait(30)

    writer, _ = in_background(writer_in_flight)
    assert holding.wait(10)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "BACKUP_DIR": str(backup_dir),
    }
    command = [sys.executable, "manage.py", "erase_customer", str(victim.pk)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_for(lambda: advisory_lock_waiters() > 0, what="the erasure to wait for the writer", timeout=30)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        may_commit.set()
        writer.join(30)

    assert erasure_events(victim.pk) == []
    assert not DataKey.objects.filter(customer_id=victim.pk, erased_at__isnull=False).exists()
    assert decryptable_with_the_master_key(victim.pk) != []  # the key is still there
    assert erased_in_ledger() == {victim.pk}  # asked for: a restore would erase them, never the reverse

    call_command("erase_customer", str(victim.pk), stdout=io.StringIO())
    assert len(erasure_events(victim.pk)) == 1
    assert decryptable_with_the_master_key(victim.pk) == []


def test_a_key_left_beside_an_earlier_erasure_is_shredded_by_the_migration_and_by_the_ledger(
    shop: dict[str, Any], victim: Any
) -> None:
    """As found, a writer racing an erasure could leave a key wrapped beside the tombstone."""
    call_command("erase_customer", str(victim.pk), stdout=io.StringIO())

    def leave_a_key() -> DataKey:
        key = DataKey.objects.filter(customer_id=shop["other"].pk).first()
        return DataKey.objects.create(
            customer_id=victim.pk, wrapped_key=key.wrapped_key, master_key_id=key.master_key_id
        )

    migration = importlib.import_module("recovery.migrations.0002_personal_data_lock")
    for shred in (
        lambda: connection.cursor().execute(migration.SHRED_LEFTOVER_KEYS),
        lambda: transaction.atomic()(reapply_ledger)(),  # what a restore of an older backup runs
    ):
        left = leave_a_key()
        shred()
        left.refresh_from_db()
        assert left.wrapped_key is None and left.erased_at is not None
    assert DataKey.objects.get(customer_id=shop["other"].pk).wrapped_key is not None  # others keep theirs
