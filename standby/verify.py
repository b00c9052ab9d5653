"""After the failover: compare what the probe was told with what the new primary's event log holds.

An acknowledged command is *lost* when no event carries its id as ``correlation_id`` at the stream and
version it was acknowledged with. A command is *applied twice* when its id appears on events of more
than one ``command_id`` (each dispatch gets a fresh one), or on more events than the command writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from standby.probe import Ack

EVENTS_PER_COMMAND = {"create_order": 1, "add_note": 1}


class Database(Protocol):
    """What the verdict needs of a server (``standby.postgres.Server``)."""

    def query(self, sql: str, params: Sequence[Any] = (), *, dbname: str = ...) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Verdict:
    lost: list[Ack]
    applied_twice: list[str]
    events_checked: int

    def rpo(self, *, killed_at: float) -> dict[str, Any]:
        """RPO as the count of lost acknowledged commands and the span of time they cover before the kill.

        The span starts when the earliest lost command was sent (its commit came after, so this errs on
        the long side): a command sent just before the kill and acknowledged just after it still counts.
        """
        seconds = killed_at - min(a.sent_at for a in self.lost) if self.lost else 0.0
        return {"lost_acknowledged_commands": len(self.lost), "lost_seconds": round(max(seconds, 0.0), 3)}


def check_event_log(server: Database, *, dbname: str, acks: list[Ack], sent: set[str]) -> Verdict:
    rows = server.query(
        """
        SELECT metadata->>'correlation_id', stream_id::text, version, metadata->>'command_id'
        FROM event_log WHERE metadata->>'correlation_id' = ANY(%s)
        """,
        [sorted(sent)],
        dbname=dbname,
    )
    stored: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for correlation_id, stream_id, version, command_id in rows:
        stored[correlation_id].append((stream_id, version, command_id))
    lost = [a for a in acks if (a.order_id, a.version) not in {(s, v) for s, v, _ in stored[a.command_id]}]
    kinds = {a.command_id: a.kind for a in acks}
    twice = [
        command_id
        for command_id, events in stored.items()
        if len({c for _, _, c in events}) > 1
        or len(events) > EVENTS_PER_COMMAND.get(kinds.get(command_id, ""), 1)
    ]
    return Verdict(lost=lost, applied_twice=sorted(twice), events_checked=len(rows))
