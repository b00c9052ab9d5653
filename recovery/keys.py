"""The two encryption keys from settings: base64 of 32 random bytes each, named by a fingerprint.

``BACKUP_ENCRYPTION_KEY`` encrypts backup archives; ``FIELD_ENCRYPTION_KEY`` is the master key that wraps
the per-customer data keys (``FIELD_ENCRYPTION_OLD_KEYS`` lists former master keys during a rotation).
A key id is a one-way fingerprint: archives and wrapped keys carry it, so a wrong key is named as such
instead of surfacing as a failed decryption.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings

from config.keys import KEY_BYTES, parse_key  # parse_key is used from here too (checks, tests)


def generate_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_id(key: bytes, *, purpose: str) -> str:
    """A short fingerprint that names the key without revealing it."""
    return hashlib.sha256(b"order-platform key id\0" + purpose.encode() + b"\0" + key).hexdigest()[:16]


def backup_key() -> bytes:
    return parse_key(settings.BACKUP_ENCRYPTION_KEY, name="BACKUP_ENCRYPTION_KEY")


def backup_key_configured() -> bool:
    return bool((settings.BACKUP_ENCRYPTION_KEY or "").strip())


def master_key() -> bytes:
    return parse_key(settings.FIELD_ENCRYPTION_KEY, name="FIELD_ENCRYPTION_KEY")


def master_keys() -> dict[str, bytes]:
    """Every master key this process may unwrap with, by key id: the current one and former ones."""
    current = master_key()
    keys = {master_key_id(current): current}
    for index, value in enumerate(settings.FIELD_ENCRYPTION_OLD_KEYS):
        old = parse_key(value, name=f"FIELD_ENCRYPTION_OLD_KEYS[{index}]")
        keys.setdefault(master_key_id(old), old)
    return keys


def master_key_id(key: bytes) -> str:
    return key_id(key, purpose="master")


def backup_key_id(key: bytes) -> str:
    return key_id(key, purpose="backup")
