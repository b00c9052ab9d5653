"""The failover drill: ``python -m standby.drill [--mode sync|async|both]`` (``make standby-drill``).

One round: primary + ``pg_basebackup -R`` standby on loopback ports, the platform against both hosts,
a write probe through the API; SIGKILL the primary's whole process group under load, ``pg_promote()``
the standby, and measure until the platform — the same web and worker processes — writes and reads
again. Prints one JSON document; exits non-zero when a round broke a promise (a command applied
twice, a 500, a restarted web worker, a read side that does not catch up, or in synchronous mode an
acknowledged command lost).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from standby import platform, postgres
from standby.measure import Clock, ReadSide, lag_summary
from standby.probe import Api, WriteProbe
from standby.processes import DrillError, wait_until
from standby.stage import Stage, new_stage, say, set_stage
from standby.verify import check_event_log


class Mode(StrEnum):
    SYNC = "synchronous"
    ASYNC = "asynchronous"


@dataclass(frozen=True)
class Options:
    threads: int = 4
    warmup: float = 3.0  # seconds of load before the kill
    after: float = 2.0  # seconds of load on the new primary before the probe stops
    pause: float = 0.01  # between one probe thread's commands
    # Asynchronous rounds only: freeze the primary's WAL sender this long before the kill, as a stalled
    # inter-site link would. What was acknowledged meanwhile is what asynchronous replication loses.
    link_stall: float = 0.0


def run_round(mode: Mode, *, workdir: Path, options: Options | None = None) -> dict[str, Any]:
    """Run one drill round in ``workdir``; every process it starts is gone when it returns or raises."""
    options = options or Options()
    stage = new_stage(workdir)
    with ExitStack() as stack:
        try:
            set_stage(stage, synchronous=mode is Mode.SYNC, workdir=workdir, stack=stack)
            probe = WriteProbe(
                port=stage.web_port,
                customer_token=stage.customer_token,
                manager_token=stage.manager_token,
                threads=options.threads,
                pause=options.pause,
            )
            stack.callback(probe.stop, drain=0)
            return _failover(mode, stage, probe, options)
        except Exception as exc:
            tails = "\n".join(f"--- {s.name} ({s.log_path}) ---\n{s.log_tail()}" for s in stage.services)
            raise DrillError(f"{mode} round failed: {exc}\n{tails}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _failover(mode: Mode, stage: Stage, probe: WriteProbe, options: Options) -> dict[str, Any]:
    primary, standby = stage.primary, stage.standby
    read_side = ReadSide(Api(stage.web_port, stage.manager_token))
    say(f"{mode}: {options.threads} probe writers for {options.warmup:.0f}s, then SIGKILL the primary")
    probe.start()
    samples = _load_with_lag_samples(primary, probe, seconds=options.warmup)
    if options.link_stall > 0 and mode is Mode.ASYNC:
        say(f"{mode}: stalling replication for {options.link_stall:.1f}s before the kill")
        postgres.stall_wal_sender(primary)
        samples += _load_with_lag_samples(primary, probe, seconds=options.link_stall)
    web_workers = platform.web_worker_pids(stage.web)

    clock = Clock(killed=time.monotonic())
    primary.kill()
    standby.promote()
    clock.promoted = time.monotonic()
    first = wait_until(
        lambda: probe.first_ack_sent_after(clock.killed),
        timeout=60,
        what="a write acknowledged after the kill",
    )
    clock.first_write = first.acked_at
    clock.read_side = read_side.wait_for(first, timeout=60)
    say(f"{mode}: writes back after {first.acked_at - clock.killed:.2f}s; more load on the new primary")
    time.sleep(options.after)
    probe.stop()
    caught_up = read_side.caught_up(timeout=60)

    acks = probe.log.snapshot()
    verdict = check_event_log(standby, dbname=platform.DATABASE_NAME, acks=acks, sent=probe.log.sent)
    failed = dict(probe.log.failed_attempts)
    in_flight = [a for a in acks if a.first_sent_at < clock.killed < a.acked_at]
    result: dict[str, Any] = {
        "mode": str(mode),
        "link_stall_seconds": options.link_stall if mode is Mode.ASYNC else 0.0,
        "rto_seconds": clock.rto(),
        "rpo": verdict.rpo(killed_at=clock.killed),
        "applied_twice": len(verdict.applied_twice),
        "replication_before_kill": lag_summary(samples),
        "commands": {
            "acknowledged": len(acks),
            "acknowledged_before_kill": sum(a.acked_at < clock.killed for a in acks),
            "in_flight_at_kill_then_acknowledged": len(in_flight),
            "of_which_replayed_from_idempotency_record": sum(a.replayed for a in in_flight),
            "abandoned": len(probe.log.abandoned),
            "events_checked": verdict.events_checked,
        },
        "failed_attempts": failed,
        "http_500": sum(n for what, n in failed.items() if what.startswith("500")),
        "web_workers_restarted": platform.web_worker_pids(stage.web) != web_workers,
        "read_side_caught_up": caught_up,
    }
    result["ok"] = _kept_promises(mode, result)
    return result


def _kept_promises(mode: Mode, result: dict[str, Any]) -> bool:
    always = (
        result["applied_twice"] == 0
        and result["http_500"] == 0
        and not result["web_workers_restarted"]
        and result["read_side_caught_up"]
    )
    if mode is Mode.ASYNC:  # losing the unreplicated tail is what asynchronous replication trades
        return always
    return (
        always and result["rpo"]["lost_acknowledged_commands"] == 0 and result["commands"]["abandoned"] == 0
    )


def _load_with_lag_samples(primary: postgres.Server, probe: WriteProbe, *, seconds: float) -> list[dict]:
    """Let the probe write for ``seconds`` (and until it has some acknowledgements), sampling the lag."""
    samples: list[dict] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(probe.log.snapshot()) < 20:
        state = postgres.replication_state(primary)
        if state is not None:
            samples.append(state)
        if time.monotonic() > deadline + 60:
            raise DrillError("the probe got fewer than 20 acknowledgements in a minute")
        time.sleep(0.2)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m standby.drill", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["sync", "async", "both"], default="both")
    parser.add_argument("--threads", type=int, default=Options.threads)
    parser.add_argument("--warmup", type=float, default=Options.warmup)
    parser.add_argument("--after", type=float, default=Options.after)
    parser.add_argument(
        "--link-stall",
        type=float,
        default=0.0,
        help="asynchronous round: freeze WAL shipping this many seconds before the kill",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data, logs)")
    args = parser.parse_args(argv)
    options = Options(threads=args.threads, warmup=args.warmup, after=args.after, link_stall=args.link_stall)
    modes = {"sync": [Mode.SYNC], "async": [Mode.ASYNC], "both": [Mode.SYNC, Mode.ASYNC]}[args.mode]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on `kill` too

    rounds = []
    with work_directory(keep=args.keep) as workdir:
        for mode in modes:
            rounds.append(run_round(mode, workdir=workdir / mode.value, options=options))
    print(json.dumps({"rounds": rounds, "ok": all(r["ok"] for r in rounds)}, indent=2))
    return 0 if all(r["ok"] for r in rounds) else 1


@contextlib.contextmanager
def work_directory(*, keep: bool = False) -> Iterator[Path]:
    """A fresh directory the PostgreSQL user can traverse (pytest's tmp_path, mode 0700, is not)."""
    path = Path(tempfile.mkdtemp(prefix="standby-drill-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        if keep:
            say(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
