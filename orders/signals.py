from django.dispatch import Signal

# Sent after the transaction that appended events commits; ``events`` is a list of RecordedEvent.
# The read side listens to nudge its projections.
events_committed = Signal()
