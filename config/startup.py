"""A missing or bad setting at start-up, said in one line.

Django (and Celery, which reads Django's settings) would end every command in a traceback when, say,
DATABASE_URL is unset in production; the entry points (manage.py, the Celery app) wrap their start in
``configuration_errors_in_one_line`` instead, which names the problem and exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured

CONFIGURATION_ERROR_STATUS = 2


@contextmanager
def configuration_errors_in_one_line(program: str) -> Iterator[None]:
    try:
        yield
    except ImproperlyConfigured as error:
        print(f"{program}: configuration error: {error}", file=sys.stderr)
        sys.exit(CONFIGURATION_ERROR_STATUS)
