"""Wake the subscriptions' worker when the command bus commits, from a thread beside the commit (as the
projections' nudge does, ``projections.signals``): a commit only sets a flag."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django.conf import settings

from subscriptions import tasks

logger = logging.getLogger(__name__)


class _Nudger:
    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # threads do not survive a fork

    def _reset(self) -> None:
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="subscriptions-nudger", daemon=True
                    )
                    self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                tasks.nudge()
            except Exception:
                logger.warning("could not nudge the subscriptions; beat will run them", exc_info=True)


nudger = _Nudger()


def nudge_subscriptions(sender: Any, events: list[Any], **kwargs: Any) -> None:
    if settings.SUBSCRIPTION_NUDGE_ON_COMMIT:
        nudger.request()
