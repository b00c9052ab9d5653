"""Signing secrets at rest: AES-256-GCM under a key derived from ``FIELD_ENCRYPTION_KEY``.

Whoever reads the database (a dump, a backup, a replica, a stray SQL session) must not be able to sign a
webhook in the platform's name. The key is derived with HKDF-SHA256 and an ``info`` of its own, so it is
never the master key itself nor any other key derived from it. A sealed value reads
``enc:v1:`` + base64url(nonce ‖ ciphertext ‖ tag); the associated data names what it is, so a sealed
value copied into another kind of column does not open.

During a master-key rotation the former keys stay in ``FIELD_ENCRYPTION_OLD_KEYS``: each is tried in
turn, and the next write of the row (a save, a secret rotation, ``manage.py reseal_webhook_secrets``)
seals again under the current key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.keys import parse_key

PREFIX = "enc:v1:"
INFO = b"webhook-signing-secrets"
ASSOCIATED = b"subscriptions.endpoint signing secret"
NONCE_BYTES = 12


class UnreadableSecret(ImproperlyConfigured):
    """No configured key opens a sealed secret: the master key changed and the old one is not listed."""


def derive(master: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(master))


@functools.lru_cache(maxsize=4)
def _ciphers(current: str, old: tuple[str, ...]) -> tuple[AESGCM, ...]:
    """The current key first, then the former ones; cached per settings value (HKDF once, not per row)."""
    masters = [parse_key(current, name="FIELD_ENCRYPTION_KEY")]
    masters += [parse_key(v, name=f"FIELD_ENCRYPTION_OLD_KEYS[{i}]") for i, v in enumerate(old)]
    return tuple(derive(master) for master in masters)


def ciphers() -> tuple[AESGCM, ...]:
    return _ciphers(settings.FIELD_ENCRYPTION_KEY, tuple(settings.FIELD_ENCRYPTION_OLD_KEYS))


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def seal(secret: str) -> str:
    """``secret`` sealed under the current key; blank stays blank (no previous secret)."""
    if not secret:
        return secret
    nonce = os.urandom(NONCE_BYTES)
    sealed = ciphers()[0].encrypt(nonce, secret.encode(), ASSOCIATED)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(value: str) -> str:
    """The secret in ``value``. A value without the prefix is returned as it is: blank, or written before
    the migration that seals them ran (it seals every such value; see 0003_sealed_secrets)."""
    if not is_sealed(value):
        return value
    try:
        raw = base64.urlsafe_b64decode(value.removeprefix(PREFIX))
    except (binascii.Error, ValueError):
        raise UnreadableSecret("a sealed webhook signing secret is not valid base64") from None
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    for cipher in ciphers():
        try:
            return cipher.decrypt(nonce, sealed, ASSOCIATED).decode()
        except InvalidTag:
            continue
    raise UnreadableSecret(
        "no key opens a webhook signing secret: neither FIELD_ENCRYPTION_KEY nor any of "
        "FIELD_ENCRYPTION_OLD_KEYS is the key it was sealed under"
    )
