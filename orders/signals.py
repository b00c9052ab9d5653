from typing import Any

from django.dispatch import Signal

from config.metrics import EVENTS_APPENDED

# Sent after the transaction that appended events commits; ``events`` is a list of RecordedEvent.
# The read side listens to nudge its projections.
events_committed = Signal()


def count_committed_events(sender: Any, events: list[Any], **kwargs: Any) -> None:
    # Counted on commit, not on append: a rolled-back or retried append never reached the log.
    for recorded in events:
        EVENTS_APPENDED.labels(event_type=recorded.event.type).inc()
