"""Erase a customer's personal data by crypto-shredding: delete their data key, record the erasure.

An erasure is a command, ``EraseCustomerData``, run by the command bus in one transaction like any
other: the bus loads the customer's own stream, checks the permission (managers; the system actor for
``manage.py erase_customer``), and appends ``CustomerDataErased`` — or nothing, if the customer was
erased already. This module registers the command's handler and, as the event's effect in the same
transaction, the shredding itself (``scrub``).

``scrub`` first takes the customer's personal-data lock exclusively (``PERSONAL_DATA_LOCK``): every
writer of the customer's personal data holds it shared (a new data key, an idempotency record holding
their address), so the erasure waits for the writers in flight to commit or roll back, and its next
statements (READ COMMITTED: each takes a new snapshot) see what they wrote. A writer that comes later
waits for the erasure and is then refused (``lock_personal_data`` sees the tombstone).

After an erasure the personal fields of every event of theirs read as ``ERASED`` — through the API,
the admin, rebuilt projections and restored backups — while orders, totals and history remain. Copies
outside the log go too: the user row is anonymised (and can no longer log in), cached API responses
lose the shipping address, admin log entries lose the user's name. The live read model is blanked by
the order-summary projector when it applies ``CustomerDataErased``.

Backups taken before the erasure still hold the key. So every erasure is also written to a ledger kept
beside the backups (``BACKUP_DIR/erasures.log``, customer ids only), *before* the key is deleted; a
restore re-applies every erasure in it. Copy the ledger wherever the backups are copied.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import Role
from config.errors import NotFound
from orders import store
from orders.aggregate import DecisionContext
from orders.commands import EraseCustomerData
from orders.customer import Customer
from orders.customer import replay as replay_customer
from orders.events import ERASED, CustomerDataErased
from orders.handlers import dispatch, effect_of, handles
from orders.models import IdempotencyRecord
from recovery.models import DataKey
from recovery.personal_data import PERSONAL_DATA_LOCK, lock_key

LEDGER_NAME = "erasures.log"


@dataclass(frozen=True)
class ErasureResult:
    customer_id: int
    already_erased: bool
    events: list[store.RecordedEvent]


def erase_customer(customer_id: int, *, actor: Any, correlation_id: UUID | None = None) -> ErasureResult:
    """Erase the customer's personal data through the command bus; erasing twice changes nothing the
    second time."""
    result = dispatch(EraseCustomerData(customer_id=customer_id), actor=actor, correlation_id=correlation_id)
    return ErasureResult(customer_id=customer_id, already_erased=not result.events, events=result.events)


@handles(EraseCustomerData, permission="orders.erase_customer_data", replay=replay_customer)
def erasure_context(command: EraseCustomerData, customer: Customer, actor: Any) -> DecisionContext:
    if not _is_customer(command.customer_id):
        raise NotFound("customer not found")
    return DecisionContext(now=timezone.now())


@effect_of(CustomerDataErased)
def shred(event: CustomerDataErased) -> None:
    """In the erasure's transaction, before its event is appended."""
    # Ledger first: if the transaction fails after this, a restore erases a customer whose erasure
    # was asked for but not finished — never the other way round.
    _append_to_ledger(event.customer_id)
    scrub(event.customer_id)


def scrub(customer_id: int) -> bool:
    """Delete the data keys (keeping a tombstone) and the copies of personal data; False if already done.

    Runs inside a transaction: the exclusive lock is held until it ends.
    """
    with connection.cursor() as cursor:
        # Waits for every writer in flight of this customer's personal data, and for another erasure.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PERSONAL_DATA_LOCK, lock_key(customer_id)])
    keys = DataKey.objects.filter(customer_id=customer_id)
    if keys.filter(erased_at__isnull=False).exists():
        # Erased before. A key a writer made beside that erasure, before writers took this lock, goes too.
        keys.exclude(wrapped_key=None).update(wrapped_key=None, master_key_id="", erased_at=timezone.now())
        return False
    now = timezone.now()
    if not keys.update(wrapped_key=None, master_key_id="", erased_at=now):
        DataKey.objects.create(customer_id=customer_id, erased_at=now)  # the tombstone: no key ever after
    user_model = get_user_model()
    user_model.objects.filter(pk=customer_id).update(
        username=f"erased-{customer_id}",
        first_name="",
        last_name="",
        email="",
        is_active=False,
        password=make_password(None),
    )
    Token.objects.filter(user_id=customer_id).delete()
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(user_model), object_id=str(customer_id)
    ).update(object_repr=f"erased-{customer_id}", change_message="")
    for record in IdempotencyRecord.objects.filter(response_body__customer=customer_id):
        address = record.response_body.get("shipping_address")
        if isinstance(address, dict):
            record.response_body["shipping_address"] = dict.fromkeys(address, ERASED)
            record.save(update_fields=["response_body"])
    return True


def _is_customer(customer_id: int) -> bool:
    user_model = get_user_model()
    return (
        user_model.objects.filter(pk=customer_id, groups__name=Role.CUSTOMER).exists()
        or DataKey.objects.filter(customer_id=customer_id).exists()
    )


# --- the ledger beside the backups ----------------------------------------------------------------


def ledger_path() -> Path:
    return Path(settings.BACKUP_DIR) / LEDGER_NAME


def _append_to_ledger(customer_id: int) -> None:
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps({"customer_id": customer_id, "at": timezone.now().isoformat()}) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a") as ledger:
        ledger.write(line)
        ledger.flush()
        os.fsync(ledger.fileno())


def erased_in_ledger() -> set[int]:
    path = ledger_path()
    if not path.exists():
        return set()
    erased = set()
    for line in path.read_text().splitlines():
        if line.strip():
            erased.add(int(json.loads(line)["customer_id"]))
    return erased


def reapply_ledger() -> int:
    """Erase again everyone the ledger names (a restore of an older backup); return how many it took."""
    return sum(1 for customer_id in sorted(erased_in_ledger()) if scrub(customer_id))
