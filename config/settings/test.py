"""Test profile: real PostgreSQL and Redis, fast password hashing, a throwaway secret."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # nosec B303  # tests only
CACHES = {**CACHES, "default": {**CACHES["default"], "KEY_PREFIX": "orders-test"}}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False}

# Tests nudge projections explicitly; the end-to-end worker tests switch the on-commit nudge back on.
PROJECTION_NUDGE_ON_COMMIT = env.bool("PROJECTION_NUDGE_ON_COMMIT", default=False)
SUBSCRIPTION_NUDGE_ON_COMMIT = env.bool("SUBSCRIPTION_NUDGE_ON_COMMIT", default=False)
# The API's fuzzing calls the feed with any ?wait=; the long-poll test raises this again.
SUBSCRIPTION_FEED_MAX_WAIT = env.float("SUBSCRIPTION_FEED_MAX_WAIT", default=1.0)
# Test receivers listen on loopback over plain HTTP.
SUBSCRIPTION_REQUIRE_HTTPS = False
SUBSCRIPTION_ALLOWED_NETWORKS = env.list("SUBSCRIPTION_ALLOWED_NETWORKS", default=["127.0.0.0/8"])
# One test database per pytest process, so that several runs on one server do not collide.
DATABASES["default"]["TEST"] = {"NAME": f"test_orders_{os.getpid()}"}  # noqa: F405
# A Celery worker started by a test reads the test database through this.
if env.str("TEST_WORKER_DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env.str("TEST_WORKER_DATABASE_NAME")  # noqa: F405
# Encryption keys (recovery/): random per test run, and exported, so that the processes a test starts
# (a Celery worker, a restore into a scratch database) use the same ones. Backups go to a private dir.
for _name in ("BACKUP_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY"):
    os.environ.setdefault(_name, base64.b64encode(secrets.token_bytes(32)).decode())
BACKUP_ENCRYPTION_KEY = os.environ["BACKUP_ENCRYPTION_KEY"]
FIELD_ENCRYPTION_KEY = os.environ["FIELD_ENCRYPTION_KEY"]
_TEST_BACKUP_DIR = Path(tempfile.gettempdir()) / f"order-platform-test-backups-{os.getpid()}"
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(_TEST_BACKUP_DIR)))
