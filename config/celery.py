"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import gc
import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("orders_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
import config.worker_heartbeat  # noqa: E402, F401  # connects the heartbeat to the worker's signals


@worker_init.connect
def freeze_before_forking(**kwargs: Any) -> None:
    """Keep what the main process loaded out of the collector's reach, so the forked pool processes
    keep sharing those pages instead of each copying them at their first collection."""
    gc.freeze()
