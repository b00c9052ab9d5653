"""The pilot-light failover drill, end to end, with synchronous replication.

A real primary and a ``pg_basebackup -R`` standby on loopback ports, the platform's own web server
and Celery worker on a multi-host DATABASE_URL, a write probe through the API; the primary is killed
with SIGKILL under load and the standby promoted. ``run_round`` removes every process and directory
it made, also when it fails.
"""

from __future__ import annotations

import pytest

from standby.drill import Mode, Options, run_round, work_directory

pytestmark = pytest.mark.standby


def test_synchronous_failover_loses_no_acknowledged_command_and_applies_none_twice() -> None:
    with work_directory() as workdir:
        result = run_round(Mode.SYNC, workdir=workdir, options=Options(warmup=2.0, after=1.0))

    commands, rto = result["commands"], result["rto_seconds"]
    assert result["replication_before_kill"]["sync_state"] == "sync", result
    assert commands["acknowledged_before_kill"] >= 20, result
    assert commands["acknowledged"] > commands["acknowledged_before_kill"], "no write after the failover"
    assert result["rpo"] == {"lost_acknowledged_commands": 0, "lost_seconds": 0.0}, result
    assert result["applied_twice"] == 0, result
    assert commands["abandoned"] == 0, result
    # Requests that met the dead database answered a clean 503, nothing else went wrong on the wire.
    assert result["failed_attempts"].get("503 database_unavailable", 0) >= 1, result
    assert set(result["failed_attempts"]) <= {"503 database_unavailable"}, result
    assert result["http_500"] == 0, result
    assert not result["web_workers_restarted"], result
    assert result["read_side_caught_up"], result
    assert rto["first_acknowledged_write"] < 60, result
    assert rto["read_side_caught_up"] < 60, result
    assert result["ok"], result
