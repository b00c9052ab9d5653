"""How the event store turns events into stored payloads and back: a codec handed to it from above.

The store knows nothing of personal data. The recovery app installs its codec at start-up
(``RecoveryConfig.ready``), which encrypts the fields an event declares personal with a key per
customer. Until one is installed, events that carry personal fields are refused rather than written
in clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from orders.events import Event, Payload


class PayloadCodec(Protocol):
    def seal(self, stream_id: UUID, events: Sequence[Event]) -> list[Payload]:
        """The payloads to store for ``events`` of one stream."""

    def open(self, rows: Sequence[Any]) -> list[Payload]:
        """The readable payloads of stored rows (``stream_id``, ``event_type``, ``payload``)."""


class NoPersonalDataCodec:
    """Stores payloads as the events give them, and refuses any event with personal fields."""

    def seal(self, stream_id: UUID, events: Sequence[Event]) -> list[Payload]:
        personal = sorted({event.type for event in events if event.personal_fields})
        if personal:
            raise RuntimeError(f"no payload codec is installed to seal the personal fields of {personal}")
        return [event.to_payload() for event in events]

    def open(self, rows: Sequence[Any]) -> list[Payload]:
        return [row.payload for row in rows]


_installed: list[PayloadCodec] = [NoPersonalDataCodec()]


def install(codec: PayloadCodec) -> None:
    """Make ``codec`` the one the store seals and opens with (once, at start-up)."""
    _installed[0] = codec


def current() -> PayloadCodec:
    return _installed[0]
