"""Master key rotation: re-wrap every data key with the current ``FIELD_ENCRYPTION_KEY``.

The procedure (docs in ``rotate_master_key --help``): deploy with the new key as FIELD_ENCRYPTION_KEY
and the old one in FIELD_ENCRYPTION_OLD_KEYS, so every process reads keys wrapped by either; run
``rotate_master_key``; then drop the old key from FIELD_ENCRYPTION_OLD_KEYS. The data keys themselves,
and so the event log, do not change. Keep the old master key as long as backups taken before the
rotation are kept: their data keys are wrapped by it. Customers whose data was erased are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from recovery import keys
from recovery.models import DataKey
from recovery.personal_data import PersonalDataError, unwrap, wrap


@dataclass(frozen=True)
class RotationResult:
    rewrapped: int
    already_current: int
    master_key_id: str


def rotate_master_key(*, batch_size: int = 500) -> RotationResult:
    current = keys.master_key()
    current_id = keys.master_key_id(current)
    masters = keys.master_keys()
    rewrapped = 0
    while True:
        with transaction.atomic():
            batch = list(
                _live_keys()
                .select_for_update()
                .exclude(master_key_id=current_id)
                .order_by("customer_id")[:batch_size]
            )
            if not batch:
                break
            for key in batch:
                if key.wrapped_key is None:  # _live_keys has none: keeps the type bytes
                    continue
                old = masters.get(key.master_key_id)
                if old is None:
                    raise PersonalDataError(
                        f"the data key of customer {key.customer_id} is wrapped by master key "
                        f"{key.master_key_id}, which is not in FIELD_ENCRYPTION_OLD_KEYS; nothing further"
                        " was re-wrapped"
                    )
                data_key = unwrap(key.wrapped_key, customer_id=key.customer_id, master=old)
                key.wrapped_key = wrap(data_key, customer_id=key.customer_id, master=current)
                key.master_key_id = current_id
            DataKey.objects.bulk_update(batch, ["wrapped_key", "master_key_id"])
            rewrapped += len(batch)
    already = _live_keys().filter(master_key_id=current_id).count() - rewrapped
    return RotationResult(rewrapped=rewrapped, already_current=already, master_key_id=current_id)


def _live_keys() -> QuerySet[DataKey]:
    """Keys with key material, of customers who were never erased. An erased customer's key material
    is never re-wrapped: a key that a writer made beside their erasure (before writers took the
    customer's personal-data lock) must not live on under the new master key."""
    tombstoned = DataKey.objects.filter(erased_at__isnull=False).values("customer_id")
    return DataKey.objects.filter(wrapped_key__isnull=False).exclude(customer_id__in=tombstoned)
