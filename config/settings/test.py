"""Test profile: real PostgreSQL and Redis, fast password hashing, a throwaway secret."""

from __future__ import annotations

import os
import secrets

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # nosec B303  # tests only
CACHES = {**CACHES, "default": {**CACHES["default"], "KEY_PREFIX": "orders-test"}}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False}

# Tests nudge projections explicitly; the end-to-end worker tests switch the on-commit nudge back on.
PROJECTION_NUDGE_ON_COMMIT = env.bool("PROJECTION_NUDGE_ON_COMMIT", default=False)
# One test database per pytest process, so that several runs on one server do not collide.
DATABASES["default"]["TEST"] = {"NAME": f"test_orders_{os.getpid()}"}  # noqa: F405
# A Celery worker started by a test reads the test database through this.
if env.str("TEST_WORKER_DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env.str("TEST_WORKER_DATABASE_NAME")  # noqa: F405
