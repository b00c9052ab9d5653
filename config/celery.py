"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import gc
import os
from typing import Any

from celery import Celery
from celery.signals import worker_init
from django.conf import settings

from config.startup import configuration_errors_in_one_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Read the settings now, where a missing one is said in one line, rather than deep inside a Celery command
# (``celery -A config worker``) as a traceback. Already loaded when Django imports this module.
with configuration_errors_in_one_line("celery"):
    settings.INSTALLED_APPS  # noqa: B018  # loads the settings module

app = Celery("orders_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
import config.worker_heartbeat  # noqa: E402, F401  # connects the heartbeat to the worker's signals


@worker_init.connect
def freeze_before_forking(**kwargs: Any) -> None:
    """Keep what the main process loaded out of the collector's reach, so the forked pool processes
    keep sharing those pages instead of each copying them at their first collection."""
    gc.freeze()
