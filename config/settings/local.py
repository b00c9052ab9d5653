"""Development profile: `make run`. A secret key is generated once under var/ when none is given."""

from __future__ import annotations

import secrets

from config.logs import logging_config

from .base import *  # noqa: F403
from .base import LOG_LEVEL, VAR_DIR, env


def _local_secret(name: str) -> str:
    """Read a development secret from var/, creating it on first use; never used in production."""
    path = VAR_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret("django_secret_key")

# People read the development console: plain lines unless LOG_FORMAT=json is asked for.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)
