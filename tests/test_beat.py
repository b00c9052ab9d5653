"""Beat as deployed (``celery -A config.beat beat``): it schedules by name, without setting Django up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}


def test_the_beat_app_loads_no_django_application() -> None:
    probe = "import sys, config.beat; print(sorted(m for m in sys.modules if m.startswith('django')))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True
    ).stdout

    assert "django.contrib.admin" not in loaded
    assert "django.db.models" not in loaded


def test_beat_sends_the_projection_catch_up_to_the_queue(tmp_path: Path) -> None:
    queue = f"test-beat-{uuid4().hex[:8]}"
    broker = redis.Redis.from_url(settings.REDIS_URL)
    env = {**ENV, "CELERY_TASK_DEFAULT_QUEUE": queue, "PROJECTION_CATCH_UP_INTERVAL": "0.3"}
    command = [sys.executable, "-m", "celery", "-A", "config.beat", "beat", "--loglevel=WARNING"]
    command += ["--schedule", str(tmp_path / "beat-schedule")]
    beat = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while broker.llen(queue) < 2:
            assert beat.poll() is None, f"beat exited with {beat.returncode}"
            assert time.monotonic() < deadline, "beat sent nothing within 30 s"
            time.sleep(0.1)
        tasks = {json.loads(message)["headers"]["task"] for message in broker.lrange(queue, 0, -1)}
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(30)
        broker.delete(queue)

    assert "projections.tasks.run_projections" in tasks


def test_every_scheduled_task_is_one_the_workers_know() -> None:
    """Beat sends tasks by name only: a task moved or renamed would be dropped by every worker."""
    from config.celery import app

    app.loader.import_default_modules()  # what a worker imports at start-up
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled - set(app.tasks) == set()
