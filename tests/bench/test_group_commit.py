"""Group commit: appends share a transaction, each in a savepoint, and fail alone."""

from __future__ import annotations

from uuid import uuid4

import pytest
from django.db import transaction

from bench.group_commit import AppendRequest, GroupCommitter, append_many
from config.errors import ConcurrencyConflict
from orders import events as e
from orders import store
from tests.conftest import run_in_threads

# append_many commits its own transaction, so these tests cannot run inside the test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def note(n: int) -> e.OrderNoteAdded:
    return e.OrderNoteAdded(note_id=n, text=f"note {n}")


def test_a_conflicting_append_fails_alone_and_the_others_commit() -> None:
    taken, first, last = uuid4(), uuid4(), uuid4()
    store.append(taken, 0, [note(1)])

    outcomes = append_many(
        [
            AppendRequest(first, 0, [note(1), note(2)]),
            AppendRequest(taken, 0, [note(9)]),  # version 1 exists: a conflict
            AppendRequest(last, 0, [note(3)], metadata={"actor": "user:7"}),
        ]
    )

    assert isinstance(outcomes[1], ConcurrencyConflict)
    assert [r.version for r in outcomes[0]] == [1, 2]
    assert [r.event for r in store.load(first)] == [note(1), note(2)]
    assert [r.event for r in store.load(taken)] == [note(1)]
    (written,) = store.load(last)
    assert written.metadata == {"actor": "user:7"}
    assert [r.position for r in outcomes[2]] == [written.position]
    assert outcomes[0][0].transaction_id == outcomes[2][0].transaction_id  # one transaction, one commit


def test_a_group_without_failures_commits_in_one_transaction() -> None:
    streams = [uuid4() for _ in range(3)]

    outcomes = append_many([AppendRequest(stream, 0, [note(i)]) for i, stream in enumerate(streams)])

    assert len({recorded[0].transaction_id for recorded in outcomes}) == 1
    assert [store.load(stream)[0].event for stream in streams] == [note(0), note(1), note(2)]


def test_an_append_that_fails_before_reaching_the_database_fails_alone() -> None:
    good = uuid4()

    outcomes = append_many([AppendRequest(good, 0, [note(1)]), AppendRequest(uuid4(), 0, [object()])])  # type: ignore[list-item]  # on purpose

    assert isinstance(outcomes[1], AttributeError)  # not an event: it cannot even be serialised
    assert [r.event for r in store.load(good)] == [note(1)]


def test_appends_to_one_stream_in_a_group_follow_each_other_or_fail_together() -> None:
    stream, other = uuid4(), uuid4()
    chained = append_many([AppendRequest(stream, 0, [note(1)]), AppendRequest(stream, 1, [note(2)])])
    assert [r.version for outcome in chained for r in outcome] == [1, 2]

    broken = append_many([AppendRequest(other, 3, [note(1)]), AppendRequest(other, 4, [note(2)])])
    assert all(isinstance(outcome, ConcurrencyConflict) for outcome in broken)
    assert store.load(other) == []


def test_append_many_refuses_to_join_the_callers_transaction() -> None:
    with pytest.raises(RuntimeError, match="outside"), transaction.atomic():
        append_many([AppendRequest(uuid4(), 0, [note(1)])])


def test_sixteen_writers_share_commits_and_every_append_lands_once() -> None:
    committer = GroupCommitter()
    streams = [uuid4() for _ in range(16)]

    def write(i: int) -> list[int]:
        positions = []
        for version in range(10):
            recorded = committer.append(AppendRequest(streams[i], version, [note(version)]))
            positions.extend(r.position for r in recorded)
        return positions

    with committer:
        results = run_in_threads(write, 16)

    assert not [r for r in results if isinstance(r, BaseException)], results
    for stream, positions in zip(streams, results, strict=True):
        loaded = store.load(stream)
        assert [r.version for r in loaded] == list(range(1, 11))
        assert [r.position for r in loaded] == positions  # each writer was told what was committed
    assert committer.groups < 160  # writers did share transactions


def test_sixteen_writers_at_the_same_version_exactly_one_wins() -> None:
    committer = GroupCommitter()
    stream = uuid4()

    def write(i: int) -> int:
        committer.append(AppendRequest(stream, 0, [note(i)]))
        return i

    with committer:
        results = run_in_threads(write, 16)

    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConcurrencyConflict) for r in results if not isinstance(r, int))
    assert [r.event for r in store.load(stream)] == [note(winners[0])]


def test_a_closed_committer_refuses_new_appends() -> None:
    committer = GroupCommitter()
    committer.close()
    with pytest.raises(RuntimeError, match="closed"):
        committer.append(AppendRequest(uuid4(), 0, [note(1)]))
