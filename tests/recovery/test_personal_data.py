"""Personal data at rest: encrypted per customer in the log, readable through the store, bound in place."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts.roles import Role
from orders import commands as c
from orders import events as e
from orders import store
from orders.handlers import dispatch
from recovery.keys import generate_key, master_key_id, parse_key
from recovery.models import DataKey
from recovery.personal_data import PersonalDataError
from tests.addresses import ADDRESS
from tests.conftest import run_in_threads

SECRET_ADDRESS = {
    **ADDRESS,
    "name": "Hermione Quillfeather",
    "line1": "77 Obscure Mews",
    "city": "Little Whinging",
    "postal_code": "ZZ9 9ZZ",
}


@pytest.fixture
def secret_customer(make_user: Callable[..., Any]) -> Any:
    from accounts.services import create_user

    return create_user(
        username="hq-customer",
        role=Role.CUSTOMER,
        password="A-long-test-passphrase-42",
        email="hermione.quillfeather@example.org",
        first_name="Hermione",
        last_name="Quillfeather",
    )


def raw_event_log() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text, metadata::text FROM event_log")
        return json.dumps(cursor.fetchall())


@pytest.mark.django_db
def test_personal_fields_are_ciphertext_in_the_log_and_plaintext_through_the_store(
    secret_customer: Any, make_product: Callable[..., Any]
) -> None:
    order_id = uuid4()
    sku = make_product().sku
    dispatch(
        c.CreateOrder(
            order_id=order_id, customer_id=secret_customer.pk, lines={sku: 1}, shipping_address=SECRET_ADDRESS
        ),
        actor=secret_customer,
    )

    raw = raw_event_log()
    for secret in (
        "Hermione",
        "Quillfeather",
        "hermione.quillfeather",
        "Obscure Mews",
        "Whinging",
        "ZZ9 9ZZ",
    ):
        assert secret not in raw
    assert '"pd1:' in raw and sku in raw  # only the personal fields are sealed

    created, _, address = store.load(order_id)
    assert (created.event.customer_name, created.event.customer_email) == (
        "Hermione Quillfeather",
        "hermione.quillfeather@example.org",
    )
    assert address.event.address == SECRET_ADDRESS
    assert DataKey.objects.filter(customer_id=secret_customer.pk).count() == 1


@pytest.mark.django_db
def test_a_ciphertext_moved_to_another_event_or_field_does_not_decrypt(secret_customer: Any) -> None:
    first, second = uuid4(), uuid4()
    created = e.OrderCreated(
        number="N1",
        customer_id=secret_customer.pk,
        customer_name="Hermione",
        customer_email="h@x.org",
        currency="USD",
    )
    store.append(first, 0, [created])
    store.append(second, 0, [created])
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM event_log WHERE stream_id = %s", [first])
        payload = json.loads(cursor.fetchone()[0])
    # Another stream, and another field of the same event: authenticated data no longer matches.
    for stream, tampered in (
        (second, payload),
        (first, {**payload, "customer_name": payload["customer_email"]}),
    ):
        row = store.EventRow(1, stream, 1, "OrderCreated", 1, json.dumps(tampered), "{}", timezone.now(), 1)
        with pytest.raises(PersonalDataError, match="failed authentication"):
            store.decode_rows([row])


@pytest.mark.django_db
def test_the_wrong_master_key_is_an_error_not_an_erasure(secret_customer: Any, settings: Any) -> None:
    order_id = uuid4()
    store.append(
        order_id,
        0,
        [
            e.OrderCreated(
                number="N",
                customer_id=secret_customer.pk,
                customer_name="H",
                customer_email="h",
                currency="USD",
            )
        ],
    )
    settings.FIELD_ENCRYPTION_KEY = generate_key()
    with pytest.raises(PersonalDataError, match="not configured"):
        store.load(order_id)


@pytest.mark.django_db
def test_personal_data_cannot_be_written_without_a_master_key(secret_customer: Any, settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.FIELD_ENCRYPTION_KEY = ""
    created = e.OrderCreated(
        number="N", customer_id=secret_customer.pk, customer_name="H", customer_email="h", currency="USD"
    )
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEY is not set"):
        store.append(uuid4(), 0, [created])
    store.append(uuid4(), 0, [e.OrderNoteAdded(note_id=1, text="no personal fields, no key needed")])


@pytest.mark.django_db(transaction=True)
def test_writers_of_a_new_customers_first_orders_never_wait_for_each_other(secret_customer: Any) -> None:
    """Each transaction may make the customer's first key; neither blocks on the other's open insert."""
    holding, may_commit = threading.Event(), threading.Event()

    def first_writer(_: int) -> None:
        with transaction.atomic():
            store.append(uuid4(), 0, [_created(secret_customer.pk, "A")])
            holding.set()
            assert may_commit.wait(20)

    thread = threading.Thread(target=lambda: run_in_threads(first_writer, 1))
    thread.start()
    assert holding.wait(10)
    second = uuid4()
    store.append(second, 0, [_created(secret_customer.pk, "B")])  # would block here with one key per customer
    may_commit.set()
    thread.join(20)

    assert store.load(second)[0].event.customer_name == "Hermione B"
    assert DataKey.objects.filter(customer_id=secret_customer.pk).count() == 2


def _created(customer_id: int, suffix: str) -> e.OrderCreated:
    return e.OrderCreated(
        number=suffix,
        customer_id=customer_id,
        customer_name=f"Hermione {suffix}",
        customer_email="h@x.org",
        currency="USD",
    )


@pytest.mark.django_db
def test_master_key_rotation_keeps_every_customers_data_readable(
    secret_customer: Any, customer: Any, settings: Any
) -> None:
    streams = {uuid4(): secret_customer.pk, uuid4(): customer.pk}
    for stream, customer_id in streams.items():
        store.append(stream, 0, [_created(customer_id, str(customer_id))])
    old, new = settings.FIELD_ENCRYPTION_KEY, generate_key()

    settings.FIELD_ENCRYPTION_KEY = new  # without the old key nothing rotates, and nothing is lost
    with pytest.raises(CommandError, match="not in FIELD_ENCRYPTION_OLD_KEYS"):
        call_command("rotate_master_key", stdout=_Sink())

    settings.FIELD_ENCRYPTION_OLD_KEYS = [old]
    assert all(store.load(stream)[0].event.customer_name.startswith("Hermione") for stream in streams)
    out = _Sink()
    call_command("rotate_master_key", stdout=out)
    assert "re-wrapped 2 data key(s)" in out.text

    settings.FIELD_ENCRYPTION_OLD_KEYS = []
    assert [store.load(stream)[0].event.customer_name for stream in streams] == [
        f"Hermione {customer_id}" for customer_id in streams.values()
    ]
    out = _Sink()
    call_command("rotate_master_key", stdout=out)
    assert "re-wrapped 0 data key(s)" in out.text and "2 were current already" in out.text


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


@pytest.mark.django_db
def test_master_key_rotation_skips_customers_whose_data_was_erased(
    secret_customer: Any, customer: Any, settings: Any
) -> None:
    for customer_id in (secret_customer.pk, customer.pk):
        store.append(uuid4(), 0, [_created(customer_id, str(customer_id))])
    # The erased customer's tombstone, beside a key left wrapped (as a writer racing an erasure could
    # leave one before writers took the customer's personal-data lock).
    DataKey.objects.create(customer_id=secret_customer.pk, erased_at=timezone.now())
    left_over = DataKey.objects.get(customer_id=secret_customer.pk, wrapped_key__isnull=False)
    old, new = settings.FIELD_ENCRYPTION_KEY, generate_key()
    settings.FIELD_ENCRYPTION_KEY, settings.FIELD_ENCRYPTION_OLD_KEYS = new, [old]

    out = _Sink()
    call_command("rotate_master_key", stdout=out)

    assert "re-wrapped 1 data key(s)" in out.text
    left_over.refresh_from_db()
    assert left_over.master_key_id == master_key_id(parse_key(old, name="old"))  # not re-wrapped
    kept = DataKey.objects.get(customer_id=customer.pk)
    assert kept.master_key_id == master_key_id(parse_key(new, name="new"))
