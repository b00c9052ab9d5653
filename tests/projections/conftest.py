"""Fixtures shared by the read-side tests."""

from tests.projections.test_celery_worker import worker  # noqa: F401 - a real Celery worker, for other modules
