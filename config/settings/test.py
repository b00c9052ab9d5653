"""Test profile: real PostgreSQL and Redis, fast password hashing, a throwaway secret."""

from __future__ import annotations

import secrets

from .base import *  # noqa: F403
from .base import CELERY_BEAT_SCHEDULE

SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # nosec B303  # tests only
CACHES = {**CACHES, "default": {**CACHES["default"], "KEY_PREFIX": "orders-test"}}  # noqa: F405
CELERY_BEAT_SCHEDULE = dict(CELERY_BEAT_SCHEDULE)
LOGGING = {"version": 1, "disable_existing_loggers": False}
