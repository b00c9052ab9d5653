"""Personal data inside event payloads, encrypted at rest with one key per customer (crypto-shredding).

Sealing (``seal_payloads``, called by ``orders.store.append``): every personal field of an event
(``Event.personal_fields``) — every value of it, for an address — is stored as
``pd1:<data key id>:<base64(nonce | ciphertext | tag)>``: AES-256-GCM under the customer's data key, a
random 96-bit nonce, and associated data binding it to the stream, event type, field, customer and key,
so a ciphertext copied into another event or field does not decrypt. A dict keeps its keys in clear (which
address lines were given is not personal), so erased data keeps its shape.

Data keys live in ``DataKey``, wrapped (AES-256-GCM) by the master key ``FIELD_ENCRYPTION_KEY``.
A transaction that writes a customer's personal data (a data key here, an idempotency record holding
their address) holds the customer's personal-data lock shared; an erasure holds it exclusively, so it
waits for the writers in flight and then sees what they wrote, and a later writer sees the erasure.

Opening (``open_payloads``, called by ``orders.store.decode`` for the write side and the projections):
a value whose customer's key is gone (erased) reads as ``ERASED``. A key wrapped by a master key this
process does not have, or a ciphertext that fails authentication, raises instead: that is a wrong
configuration or tampering, and must never look like an erasure.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from config.errors import InvalidTransition
from config.prepared import prepared_cursor
from orders.events import ERASED, EVENT_TYPES, Event, Payload
from recovery import keys
from recovery.models import DataKey

PREFIX = "pd1:"
# The advisory lock class of a customer's personal data (with ``lock_key``): writers hold it shared
# through the ``lock_personal_data`` SQL function, an erasure holds it exclusively.
PERSONAL_DATA_LOCK = 0x6572
NONCE_BYTES = 12
_STREAM_CUSTOMERS: dict[UUID, int] = {}  # an order's customer never changes, so this may be cached
_STREAM_CACHE_LIMIT = 50_000


class PersonalDataError(RuntimeError):
    """Personal data could not be read although its key exists: wrong master key or tampering."""


class CustomerDataErased(InvalidTransition):
    """New personal data for a customer whose data was erased: refused, nothing is written."""


class StoredRow(Protocol):
    stream_id: UUID
    event_type: str
    payload: Payload


# --- data keys ------------------------------------------------------------------------------------


def wrap(data_key: bytes, *, customer_id: int, master: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _wrap_aad(customer_id))


def unwrap(blob: bytes | memoryview, *, customer_id: int, master: bytes) -> bytes:
    blob = bytes(blob)
    return AESGCM(master).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _wrap_aad(customer_id))


def lock_key(customer_id: int) -> int:
    """The customer id folded into the lock's second (32-bit) key, as ``lock_personal_data`` does."""
    return customer_id % 2**31


def _wrap_aad(customer_id: int) -> bytes:
    return f"order-platform data key v1|{customer_id}".encode()


@dataclass(frozen=True)
class DataCipher:
    key_id: int
    customer_id: int
    aead: AESGCM


# A key whose customer has an erasure tombstone is erased, even one made by a writer racing the erasure.
_KEYS_SQL = """
SELECT k.id, k.customer_id, k.wrapped_key, k.master_key_id,
       EXISTS (SELECT 1 FROM recovery_datakey t
               WHERE t.customer_id = k.customer_id AND t.erased_at IS NOT NULL)
FROM recovery_datakey k WHERE k.id = ANY(%s::bigint[])
"""


class KeyRing:
    """The data keys one read or write needs: fetched in one query, unwrapped once."""

    def __init__(self) -> None:
        self._ciphers: dict[int, DataCipher | None] = {}  # by key id; None: erased (or never existed)

    def load(self, key_ids: Iterable[int]) -> None:
        wanted = set(key_ids) - self._ciphers.keys()
        if not wanted:
            return
        masters = keys.master_keys()
        with prepared_cursor() as cursor:
            cursor.execute(_KEYS_SQL, [sorted(wanted)], prepare=True)
            found = cursor.fetchall()
        for key_id, customer_id, wrapped, master_id, erased in found:
            if wrapped is None or erased:
                self._ciphers[key_id] = None
            else:
                aead = _unwrap_with(customer_id, bytes(wrapped), master_id, masters)
                self._ciphers[key_id] = DataCipher(key_id, customer_id, aead)
        for key_id in wanted - self._ciphers.keys():
            self._ciphers[key_id] = None

    def reader(self, key_id: int) -> DataCipher | None:
        if key_id not in self._ciphers:
            self.load([key_id])
        return self._ciphers[key_id]

    @staticmethod
    def writer(customer_id: int) -> DataCipher:
        """The customer's key, made on first use; refused once the customer's data was erased.

        Holds the customer's personal-data lock (shared) until the transaction ends, so an erasure
        waits for this writer and then sees its key. Writers never wait on each other: the lock is
        shared, and a new key is a plain INSERT of a row of its own.
        """
        with prepared_cursor() as cursor:
            cursor.execute(_WRITER_KEYS_SQL, [customer_id, customer_id], prepare=True)
            rows = cursor.fetchall()
        if not rows[0][0]:
            raise CustomerDataErased(
                "this customer's personal data was erased; no new personal data is recorded for them",
                details={"customer": customer_id},
            )
        usable = [
            (key_id, wrapped, master_id) for _, key_id, wrapped, master_id in rows if key_id is not None
        ]
        if usable:
            key_id, wrapped, master_id = usable[0]
            return DataCipher(
                key_id, customer_id, _unwrap_with(customer_id, bytes(wrapped), master_id, keys.master_keys())
            )
        data_key = AESGCM.generate_key(bit_length=256)
        master = keys.master_key()
        created = DataKey.objects.create(
            customer_id=customer_id,
            wrapped_key=wrap(data_key, customer_id=customer_id, master=master),
            master_key_id=keys.master_key_id(master),
        )
        return DataCipher(created.pk, customer_id, AESGCM(data_key))


# Every append of personal data runs it: plain SQL, prepared (config.prepared), not the ORM. The lock
# function (recovery/migrations/0002) answers from a snapshot taken after the lock is held, so whether
# the customer was erased is up to date; the keys come from the statement's own, older snapshot, which
# is enough: once the function answers "writable" no erasure has committed, and none can until this
# transaction ends.
_WRITER_KEYS_SQL = """
SELECT writable.yes, k.id, k.wrapped_key, k.master_key_id
FROM (SELECT lock_personal_data(%s::bigint) AS yes) AS writable
LEFT JOIN recovery_datakey k ON k.customer_id = %s::bigint AND k.wrapped_key IS NOT NULL
ORDER BY k.id
"""


def _unwrap_with(customer_id: int, wrapped: bytes, master_id: str, masters: dict[str, bytes]) -> AESGCM:
    master = masters.get(master_id)
    if master is None:
        raise PersonalDataError(
            f"a data key of customer {customer_id} is wrapped by master key {master_id}, which is not"
            " configured (FIELD_ENCRYPTION_KEY / FIELD_ENCRYPTION_OLD_KEYS)"
        )
    try:
        return AESGCM(unwrap(wrapped, customer_id=customer_id, master=master))
    except InvalidTag:
        raise PersonalDataError(f"a data key of customer {customer_id} failed authentication") from None


# --- sealing and opening payloads ----------------------------------------------------------------


def seal_payloads(stream_id: UUID, events: Sequence[Event]) -> list[Payload]:
    """The events' payloads with every personal value encrypted under the customer's data key."""
    payloads = [event.to_payload() for event in events]
    if not any(event.personal_fields for event in events):
        return payloads
    cipher = KeyRing.writer(_customer_of(stream_id, events))
    for event, payload in zip(events, payloads, strict=True):
        for name in event.personal_fields:
            payload[name] = _map_leaves(
                payload[name],
                name,
                lambda value, path, event=event: _seal(cipher, value, stream_id, event.type, path),
            )
    return payloads


def open_payloads(rows: Sequence[StoredRow]) -> list[Payload]:
    """The rows' payloads with personal values decrypted, or ``ERASED`` where the key is gone."""
    ring = KeyRing()
    ring.load(
        {
            key_id
            for row in rows
            for name in _personal_fields(row)
            for key_id in _key_ids(row.payload.get(name))
        }
    )
    opened = []
    for row in rows:
        fields = _personal_fields(row) & row.payload.keys()
        if not fields:
            opened.append(row.payload)
            continue
        payload = dict(row.payload)
        for name in fields:
            payload[name] = _map_leaves(
                payload[name],
                name,
                lambda value, path, row=row: _open(ring, value, row.stream_id, row.event_type, path),
            )
        opened.append(payload)
    return opened


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _personal_fields(row: StoredRow) -> frozenset[str]:
    cls = EVENT_TYPES.get(row.event_type)
    return cls.personal_fields if cls is not None else frozenset()


def _map_leaves(value: Any, path: str, function: Any) -> Any:
    """Apply ``function(leaf, path)`` to a value, or to each value of a dict (``field.key`` paths)."""
    if isinstance(value, dict):
        return {key: function(leaf, f"{path}.{key}") for key, leaf in value.items()}
    return function(value, path)


def _aad(cipher: DataCipher, stream_id: UUID, event_type: str, path: str) -> bytes:
    return f"pd1|{stream_id}|{event_type}|{path}|{cipher.customer_id}|{cipher.key_id}".encode()


def _seal(cipher: DataCipher, value: Any, stream_id: UUID, event_type: str, path: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    aad = _aad(cipher, stream_id, event_type, path)
    sealed = nonce + cipher.aead.encrypt(nonce, json.dumps(value).encode(), aad)
    return f"{PREFIX}{cipher.key_id}:{base64.b64encode(sealed).decode()}"


def _open(ring: KeyRing, value: Any, stream_id: UUID, event_type: str, path: str) -> Any:
    if not is_sealed(value):
        return value  # written before encryption at rest
    key_id, blob = _parse(value)
    cipher = ring.reader(key_id)
    if cipher is None:
        return ERASED
    try:
        plaintext = cipher.aead.decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(cipher, stream_id, event_type, path)
        )
    except InvalidTag:
        raise PersonalDataError(
            f"personal data in {event_type} of stream {stream_id} failed authentication"
        ) from None
    return json.loads(plaintext)


def _parse(value: str) -> tuple[int, bytes]:
    try:
        key_id, encoded = value[len(PREFIX) :].split(":", 1)
        return int(key_id), base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise PersonalDataError("malformed encrypted personal data") from None


def _key_ids(value: Any) -> set[int]:
    leaves = value.values() if isinstance(value, dict) else [value]
    return {_parse(leaf)[0] for leaf in leaves if is_sealed(leaf)}


def _customer_of(stream_id: UUID, events: Sequence[Event]) -> int:
    """Whose personal data this is: the ``customer_id`` of the stream's first event (OrderCreated)."""
    for event in events:
        customer_id = getattr(event, "customer_id", None)
        if isinstance(customer_id, int):
            return customer_id
    if stream_id not in _STREAM_CUSTOMERS:
        with prepared_cursor() as cursor:
            cursor.execute(_STREAM_CUSTOMER_SQL, [stream_id], prepare=True)
            row = cursor.fetchone()
        customer_id = json.loads(row[0]) if row is not None and row[0] is not None else None
        if not isinstance(customer_id, int):
            raise PersonalDataError(f"stream {stream_id} names no customer to encrypt personal data for")
        if len(_STREAM_CUSTOMERS) >= _STREAM_CACHE_LIMIT:
            _STREAM_CUSTOMERS.clear()
        _STREAM_CUSTOMERS[stream_id] = customer_id
    return _STREAM_CUSTOMERS[stream_id]


# The log is append-only: a stream's first event, and so its customer, never changes once written.
_STREAM_CUSTOMER_SQL = (
    "SELECT payload -> 'customer_id' FROM event_log WHERE stream_id = %s::uuid AND version = 1"
)


class PersonalDataCodec:
    """The event store's payload codec (``orders.codec``): personal fields sealed per customer."""

    def seal(self, stream_id: UUID, events: Sequence[Event]) -> list[Payload]:
        return seal_payloads(stream_id, events)

    def open(self, rows: Sequence[Any]) -> list[Payload]:
        return open_payloads(rows)
