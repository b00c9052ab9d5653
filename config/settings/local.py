"""Development profile: `make run`, and `manage.py` / `celery` in a plain shell.

With ``DATABASE_URL`` / ``REDIS_URL`` unset it starts (or reuses) the embedded servers under var/ that
`make run` uses, before the shared settings read those URLs. A secret key is generated once under var/
when none is given.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets

from config.embedded_services import export_missing_urls
from config.logs import logging_config

export_missing_urls()  # before base reads DATABASE_URL and REDIS_URL

from .base import *  # noqa: E402, F403
from .base import LOG_LEVEL, VAR_DIR, env  # noqa: E402


def _local_secret(name: str) -> str:
    """Read a development secret from var/, creating it on first use; never used in production."""
    path = VAR_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _local_key(name: str) -> str:
    """A development encryption key (base64 of 32 random bytes) under var/secrets, made on first use.

    Made in a private temporary file and linked into place, so that processes starting together (web,
    worker, beat) all end up with the same key. Losing it makes the dev data's personal fields and
    backups unreadable, as it would in production.
    """
    path = VAR_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(base64.b64encode(secrets.token_bytes(32)).decode())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        temporary.unlink()
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret("django_secret_key")
BACKUP_ENCRYPTION_KEY = env.str("BACKUP_ENCRYPTION_KEY", default="") or _local_key("backup_encryption_key")
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="") or _local_key("field_encryption_key")

# People read the development console: plain lines unless LOG_FORMAT=json is asked for.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)
# pgserver says at every exit that it leaves the embedded server running, which is the point.
LOGGING["loggers"] = {"pgserver": {"level": "WARNING"}}

# Receivers on this machine over plain HTTP (a local ERP stub, webhook.site through a tunnel is public).
SUBSCRIPTION_REQUIRE_HTTPS = env.bool("SUBSCRIPTION_REQUIRE_HTTPS", default=False)
SUBSCRIPTION_ALLOWED_NETWORKS = env.list("SUBSCRIPTION_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# `make run` starts the dedicated webhook process (Procfile: webhooks) instead.
SUBSCRIPTION_CELERY_RUN = env.bool("SUBSCRIPTION_CELERY_RUN", default=False)
SUBSCRIPTION_NUDGE_ON_COMMIT = env.bool("SUBSCRIPTION_NUDGE_ON_COMMIT", default=False)
if not SUBSCRIPTION_CELERY_RUN:
    CELERY_BEAT_SCHEDULE.pop("subscriptions-fan-out-and-send", None)  # noqa: F405
