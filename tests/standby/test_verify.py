"""The drill's verdict: which acknowledged commands the new primary lost, which it applied twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from standby.probe import Ack
from standby.verify import check_event_log


class EventLog:
    """Stands in for the promoted server: answers the verdict's one query with fixed rows."""

    def __init__(self, rows: list[tuple[str, str, int, str]]) -> None:
        self.rows = rows

    def query(
        self, sql: str, params: Sequence[Any] = (), *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        (wanted,) = params
        return [row for row in self.rows if row[0] in wanted]


def ack(command_id: str, order: str, version: int, *, at: float, kind: str = "add_note") -> Ack:
    return Ack(kind, command_id, order, version, "1.1", at - 0.01, at - 0.01, at, 1, False)


def test_an_acknowledged_command_missing_from_the_log_is_lost_and_dates_the_rpo() -> None:
    acks = [ack("a", "o1", 1, at=10.0), ack("b", "o1", 2, at=11.0), ack("c", "o1", 3, at=11.5)]
    log = EventLog([("a", "o1", 1, "x1")])

    verdict = check_event_log(log, dbname="orders", acks=acks, sent={"a", "b", "c"})

    assert [a.command_id for a in verdict.lost] == ["b", "c"]
    # From when the earliest lost command was sent (10 ms before its acknowledgement) to the kill.
    assert verdict.rpo(killed_at=12.0) == {"lost_acknowledged_commands": 2, "lost_seconds": 1.01}
    assert verdict.applied_twice == []


def test_a_command_stored_at_another_version_than_acknowledged_is_lost() -> None:
    # Its version was lost with the old primary; a different command now holds o1 v2.
    acks = [ack("a", "o1", 2, at=10.0)]
    log = EventLog([("a", "o1", 3, "x1"), ("z", "o1", 2, "x9")])

    verdict = check_event_log(log, dbname="orders", acks=acks, sent={"a"})

    assert [a.command_id for a in verdict.lost] == ["a"]


def test_a_command_dispatched_twice_is_applied_twice_even_if_never_acknowledged() -> None:
    acks = [ack("a", "o1", 1, at=10.0)]
    log = EventLog([("a", "o1", 1, "x1"), ("b", "o1", 2, "x2"), ("b", "o1", 3, "x3")])

    verdict = check_event_log(log, dbname="orders", acks=acks, sent={"a", "b"})

    assert verdict.lost == []
    assert verdict.applied_twice == ["b"]
    assert verdict.rpo(killed_at=12.0) == {"lost_acknowledged_commands": 0, "lost_seconds": 0.0}
