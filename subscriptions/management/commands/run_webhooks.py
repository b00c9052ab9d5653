"""A dedicated webhook process: fan out and send in a loop (besides, or instead of, the Celery task).

``--role fanout`` or ``--role sender`` runs one half only, so each can be scaled and killed apart.
Safe to run many at once and to kill at any moment: the cursor's lock and the deliveries' leases
make a repeat or a half-done batch harmless."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from subscriptions import fanout
from subscriptions.sender import Sender


class Command(BaseCommand):
    help = "Fan out and send webhook deliveries until stopped (or for --seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", choices=["both", "fanout", "sender"], default="both")
        parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: never)")
        parser.add_argument("--threads", type=int, default=0, help="sender threads (default: the setting)")

    def handle(self, *args: Any, role: str, seconds: float, threads: int, **options: Any) -> None:
        deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
        while time.monotonic() < deadline:
            if role in ("both", "fanout"):
                inserted = fanout.fan_out(batch_size=settings.SUBSCRIPTION_FANOUT_BATCH_SIZE, max_seconds=1.0)
            else:
                inserted = 0
            if role in ("both", "sender"):
                slice_seconds = min(1.0, max(0.0, deadline - time.monotonic()))
                Sender(threads=threads or None).run(max_seconds=slice_seconds, stop_when_idle=role == "both")
            if role == "fanout" and not inserted:
                time.sleep(0.05)
