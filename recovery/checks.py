"""System checks: malformed encryption keys stop ``manage.py check`` (and every command) early."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from recovery.keys import parse_key


@checks.register(checks.Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    values = [
        ("BACKUP_ENCRYPTION_KEY", settings.BACKUP_ENCRYPTION_KEY),
        ("FIELD_ENCRYPTION_KEY", settings.FIELD_ENCRYPTION_KEY),
    ]
    values += [
        (f"FIELD_ENCRYPTION_OLD_KEYS[{i}]", v) for i, v in enumerate(settings.FIELD_ENCRYPTION_OLD_KEYS)
    ]
    for name, value in values:
        if not (value or "").strip():
            continue
        try:
            parse_key(value, name=name)
        except ImproperlyConfigured as exc:
            messages.append(checks.Error(str(exc), id="recovery.E001"))
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_encryption_keys_set(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Warning(f"{name} is not set", id="recovery.W001")
        for name in ("BACKUP_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY")
        if not (getattr(settings, name, "") or "").strip()
    ]
