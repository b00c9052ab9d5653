"""Nudge the projections when the command bus commits events, from a thread beside the commit.

A commit only sets a flag; a background thread per process clears it and then sends the nudge
(``projections.tasks.nudge``: a Redis SET NX, and a Celery message when none is pending). Whatever
committed before the flag was cleared is covered by that nudge, since it is sent after the commit;
whatever commits later sets the flag again for the next round. So every commit is followed by a nudge,
and the commits made during one Redis round trip share it. Sent from the committing thread, the
round trip cost a third of the command bus's throughput (bench/).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.nudger import Nudger
from projections import tasks

nudger = Nudger(
    "projection-nudger",
    lambda: tasks.nudge(),  # looked up at each call (tests replace it)
    on_failure="could not nudge the projections; beat will catch them up",
)


def nudge_projections(sender: Any, events: list[Any], **kwargs: Any) -> None:
    if settings.PROJECTION_NUDGE_ON_COMMIT:
        nudger.request()
