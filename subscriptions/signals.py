"""Wake the subscriptions' worker when the command bus commits, from a thread beside the commit (as the
projections' nudge does, ``projections.signals``): a commit only sets a flag."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.nudger import Nudger
from subscriptions import tasks

nudger = Nudger(
    "subscriptions-nudger",
    lambda: tasks.nudge(),  # looked up at each call (tests replace it)
    on_failure="could not nudge the subscriptions; beat will run them",
)


def nudge_subscriptions(sender: Any, events: list[Any], **kwargs: Any) -> None:
    if settings.SUBSCRIPTION_NUDGE_ON_COMMIT:
        nudger.request()
