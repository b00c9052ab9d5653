"""Keys given in settings as base64 of 32 random bytes: the one parser every app that derives from them
shares (``recovery`` for backups and personal data, ``subscriptions`` for webhook signing secrets)."""

from __future__ import annotations

import base64
import binascii

from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32
GENERATE_HINT = "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"


def parse_key(value: str, *, name: str) -> bytes:
    """Decode a key given as base64 (standard or URL-safe alphabet); raise a clear error otherwise."""
    value = (value or "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: give it the base64 of 32 random bytes ({GENERATE_HINT})"
        )
    try:
        raw = base64.b64decode(value.translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(
            f"{name} is not valid base64 (expected the base64 of 32 random bytes)"
        ) from None
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(f"{name} must decode to {KEY_BYTES} bytes, not {len(raw)}")
    return raw
