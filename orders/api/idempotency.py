"""Idempotency-Key for write requests (SPEC §6).

The same key and the same request replay the stored response; the same key with another request is
refused (422); a second request while the first still runs is refused (409). ``KeyedRequest`` is the
bus's idempotency step (``dispatch_idempotent``): the key is taken first and the record written last in
the command's own transaction, so a key is remembered exactly when its command took effect, and a
command that was rejected can be retried with the same key.

"In flight" is a transaction-scoped advisory lock on (user, key): the first request holds it until it
commits, a concurrent one fails to take it at once.

A record whose answer holds a customer's address is written holding that customer's personal-data lock
(shared), so an erasure of the customer waits for it and then scrubs it (see ``recovery.erasure``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from config.errors import ConcurrencyConflict, IdempotencyKeyInUse, IdempotencyKeyReused, ValidationError
from orders import sites, store
from orders.events import ERASED
from orders.handlers import DispatchResult
from orders.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str]


def request_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            gettext("invalid Idempotency-Key"),
            details={HEADER: [gettext("1 to %(max)s printable characters") % {"max": MAX_KEY_LENGTH}]},
        )
    return key


def fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path and the parsed body."""
    canonical = json.dumps([request.method, request.path, request.data], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class KeyedRequest:
    """One request's Idempotency-Key as the bus's ``Idempotency`` step: ``claim`` takes the key (or
    refuses) and finds a remembered answer; ``remember`` builds the answer with ``answer`` and stores it."""

    def __init__(
        self, request: Request, key: str, *, answer: Callable[[DispatchResult], StoredResponse]
    ) -> None:
        if request.user.pk is None:  # an anonymous user, whom IsAuthenticated already keeps out
            raise NotAuthenticated()
        self.user_id, self.key, self.fingerprint = request.user.pk, key, fingerprint(request)
        self.answer = answer

    def claim(self) -> StoredResponse | None:
        _lock_or_refuse(self.user_id, self.key)
        record = store.key_record(self.user_id, sites.stored_keys(self.key))
        if record is not None and record.created_at < timezone.now() - settings.IDEMPOTENCY_KEY_TTL:
            IdempotencyRecord.objects.filter(pk=record.id).delete()  # expired, not yet swept by the beat task
            record = None
        if record is None:
            return None
        if record.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(gettext("this Idempotency-Key was used for another request"))
        return StoredResponse(record.status, record.body, record.headers)

    def remember(self, result: DispatchResult) -> StoredResponse:
        response = self.answer(result)
        stored = store.insert_key_record(
            self.user_id,
            sites.stored_key(self.key),
            fingerprint=self.fingerprint,
            status=response.status,
            body=response.body,
            headers=response.headers,
            personal_data_of=_personal_data_owner(response.body),
        )
        if not stored:
            # The customer was erased after this command read their address: run it again from a
            # fresh load, which reads the address as erased (the bus retries a conflict).
            raise ConcurrencyConflict(gettext("the customer's personal data was erased meanwhile"))
        return response


def _lock_or_refuse(user_id: int, key: str) -> None:
    """ "In flight": a transaction-scoped advisory lock on (user, key), taken at once or refused."""
    digest = hashlib.sha256(f"{user_id}:{key}".encode()).digest()
    if not store.try_lock_key(int.from_bytes(digest[:8], "big", signed=True)):
        raise IdempotencyKeyInUse(gettext("a request with this Idempotency-Key is still in progress"))


def _personal_data_owner(body: Any) -> int | None:
    """The customer whose personal data the body holds in clear (an order's shipping address), if any."""
    if not isinstance(body, dict):
        return None
    address = body.get("shipping_address")
    if isinstance(address, dict) and any(value != ERASED for value in address.values()):
        customer = body.get("customer")
        return customer if isinstance(customer, int) else None
    return None


def expire_records() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
