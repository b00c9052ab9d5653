"""Nudge the projections when the command bus commits events."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


def nudge_projections(sender: Any, events: list[Any], **kwargs: Any) -> None:
    if not settings.PROJECTION_NUDGE_ON_COMMIT:
        return
    from projections.tasks import nudge

    try:
        nudge()
    except Exception:
        logger.warning("could not nudge the projections; beat will catch them up", exc_info=True)
