"""A model field that holds a signing secret: plain in Python, sealed in the database (``sealing``)."""

from __future__ import annotations

from typing import Any

from django.db import models

from subscriptions import sealing


class SealedSecretField(models.CharField):
    """Reads open the value, writes seal it. Never filter on it: every seal has a nonce of its own."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return value if value is None else sealing.unseal(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or sealing.is_sealed(value):
            return value
        return sealing.seal(value)
