"""A dedicated webhook process: fan out and send (besides, or instead of, the Celery task).

``--role fanout`` or ``--role sender`` runs one half only, so each can be scaled and killed apart;
``both`` runs the fan-out on a thread of its own beside the sender. Safe to run many at once and to kill
at any moment: the cursor's lock and the deliveries' leases make a repeat or a half-done batch harmless.
The sender runs as one pipeline for the whole time: restarting it would wait for the requests in flight,
a slow receiver's included, and hold every other endpoint back meanwhile."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from subscriptions import fanout
from subscriptions.sender import Sender

FOREVER = 10.0**9


def fan_out_until(deadline: float, stopped: threading.Event) -> None:
    try:
        while time.monotonic() < deadline and not stopped.is_set():
            inserted = fanout.fan_out(batch_size=settings.SUBSCRIPTION_FANOUT_BATCH_SIZE, max_seconds=1.0)
            if not inserted:
                time.sleep(0.05)
    finally:
        connections.close_all()


class Command(BaseCommand):
    help = "Fan out and send webhook deliveries until stopped (or for --seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", choices=["both", "fanout", "sender"], default="both")
        parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: never)")
        parser.add_argument("--threads", type=int, default=0, help="sender threads (default: the setting)")

    def handle(self, *args: Any, role: str, seconds: float, threads: int, **options: Any) -> None:
        duration = seconds if seconds > 0 else FOREVER
        deadline = time.monotonic() + duration
        if role == "fanout":
            fan_out_until(deadline, threading.Event())
            return
        stopped = threading.Event()
        fanning = threading.Thread(target=fan_out_until, args=(deadline, stopped), daemon=True)
        if role == "both":
            fanning.start()
        try:
            Sender(threads=threads or None).run(max_seconds=duration, stop_when_idle=False)
        finally:
            stopped.set()
