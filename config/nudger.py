"""A flag a commit sets and a thread beside it acts on: how the bus wakes the workers without paying a
round trip to the broker in the committing thread.

A commit only sets the flag; one background thread per process clears it and then calls ``send``.
Whatever committed before the flag was cleared is covered by that call, since it is made after the
commit; whatever commits later sets the flag again for the next round. So every commit is followed by
a call, and the commits made during one round trip share it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Nudger:
    def __init__(self, name: str, send: Callable[[], None], *, on_failure: str) -> None:
        self.name, self.send, self.on_failure = name, send, on_failure
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
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()  # before sending: a commit from now on asks for another round
            try:
                self.send()
            except Exception:
                logger.warning(self.on_failure, exc_info=True)
