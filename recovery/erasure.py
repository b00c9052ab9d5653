"""Erase a customer's personal data by crypto-shredding: delete their data key, record the erasure.

After ``erase_customer`` the personal fields of every event of theirs read as ``ERASED`` — through the
API, the admin, rebuilt projections and restored backups — while orders, totals and history remain.
Copies outside the log go too: the user row is anonymised (and can no longer log in), cached API
responses lose the shipping address, admin log entries lose the user's name. The live read model is
blanked by the order-summary projector when it applies ``CustomerDataErased``.

Backups taken before the erasure still hold the key. So every erasure is also written to a ledger kept
beside the backups (``BACKUP_DIR/erasures.log``, customer ids only), *before* the key is deleted; a
restore re-applies every erasure in it. Copy the ledger wherever the backups are copied.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import Role, actor_id
from config.errors import NotFound
from orders import store
from orders.events import ERASED, CustomerDataErased, customer_stream_id
from orders.models import IdempotencyRecord, StoredEvent
from orders.signals import events_committed
from recovery.models import DataKey

LEDGER_NAME = "erasures.log"
_ERASURE_LOCK = 0x6572  # pg advisory lock class for erasures, keyed by customer


@dataclass(frozen=True)
class ErasureResult:
    customer_id: int
    already_erased: bool
    events: list[store.RecordedEvent]


def erase_customer(customer_id: int, *, actor: Any) -> ErasureResult:
    """Erase the customer's personal data; erasing twice changes nothing the second time."""
    if not _is_customer(customer_id):
        raise NotFound("customer not found")
    # Ledger first: if the database step fails after this, a restore erases a customer whose erasure
    # was asked for but not finished — never the other way round.
    _append_to_ledger(customer_id)
    with transaction.atomic():
        already = not scrub(customer_id)
        recorded = [] if already else _record(customer_id, actor=actor)
        if recorded:
            transaction.on_commit(partial(events_committed.send, sender=CustomerDataErased, events=recorded))
    return ErasureResult(customer_id=customer_id, already_erased=already, events=recorded)


def scrub(customer_id: int) -> bool:
    """Delete the data key (keeping a tombstone) and the copies of personal data; False if already done."""
    with connection.cursor() as cursor:  # concurrent erasures of one customer: one does the work
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ERASURE_LOCK, customer_id % 2**31])
    keys = DataKey.objects.filter(customer_id=customer_id)
    if keys.filter(erased_at__isnull=False).exists():
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


def _record(customer_id: int, *, actor: Any) -> list[store.RecordedEvent]:
    stream = customer_stream_id(customer_id)
    version = StoredEvent.objects.filter(stream_id=stream).aggregate(v=Max("version"))["v"] or 0
    command_id = str(uuid4())
    metadata = {
        "actor": actor_id(actor),
        "command": "EraseCustomerData",
        "command_id": command_id,
        "correlation_id": command_id,
        "causation_id": command_id,
    }
    return store.append(stream, version, [CustomerDataErased(customer_id=customer_id)], metadata=metadata)


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
