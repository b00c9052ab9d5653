"""A short round of the multi-site drill (``make multisite-drill`` runs the full one, re-join included):
two complete sites take orders at once, one is killed under load, the other adopts its streams."""

from __future__ import annotations

import pytest

from multisite.drill import Options, run_drill
from standby.drill import work_directory

pytestmark = [pytest.mark.multisite, pytest.mark.slow]


def test_a_short_round_keeps_every_promise() -> None:
    with work_directory() as workdir:
        report = run_drill(workdir, Options(threads=2, warmup=2.0, after=1.0, rejoin=False))

    before, loss = report["before_loss"], report["site_loss"]
    assert before["replication_conflicts"] == 0
    assert all(before["read_tables_equal"].values()), before
    assert not any(site["oversold"] for site in report["stock"].values()), report["stock"]
    assert loss["applied_twice"] == 0
    assert loss["b_homed_commands"]["failed_attempts_during_loss"] == 0, loss
    assert loss["b_homed_commands"]["acknowledged_after_kill"] > 0
    assert loss["b_homed_lost"] == 0
    assert loss["a_homed_orders"]["command_at_b_before_adoption"] == "421 wrong_site"
    assert loss["a_homed_orders"]["rto_after_adopt_command_seconds"] < 60
    for answers in report["cross_site_retries"].values():
        assert set(answers) <= {"replayed the first answer", "421 wrong_site"}, answers
    assert report["ok"]
