"""``python -m bench --profile``: py-spy samples each measured process; the tops of the profiles are
written next to the raw (collapsed-stack) files under the scratch folder.

``python -m bench.profiling FILE.txt`` prints the top of a raw profile again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess  # nosec B404  # starts py-spy, fixed argument list
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE = "100"  # samples per second: enough for a profile, little enough not to slow the process much


def wrap(command: list[str], out: Path) -> list[str]:
    """``command`` run under py-spy, which writes collapsed stacks to ``out``."""
    return [str(PY_SPY), "record", "--format", "raw", "--rate", RATE, "--output", str(out), "--", *command]


@contextlib.contextmanager
def attached(pid: int, out: Path, *, subprocesses: bool = True) -> Iterator[None]:
    """Sample ``pid`` (and its children) while the block runs."""
    command = [
        str(PY_SPY),
        "record",
        "--format",
        "raw",
        "--rate",
        RATE,
        "--output",
        str(out),
        "--pid",
        str(pid),
    ]
    if subprocesses:
        command.append("--subprocesses")
    with (out.with_suffix(".log")).open("wb") as log:
        sampler = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # nosec B603  # fixed list
        try:
            yield
        finally:
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            try:
                sampler.wait(30)
            except subprocess.TimeoutExpired:
                sampler.kill()
                sampler.wait()
    summarize(out)


def summarize(raw: Path, *, limit: int = 30) -> Path | None:
    """Write ``<raw>.top.txt``: functions by own samples and by inclusive samples."""
    if not raw.exists():
        return None
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(frame) for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{raw.name}: {total} samples", "", "own time:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(limit)]
    lines += ["", "inclusive time:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(limit * 2)]
    out = raw.with_suffix(".top.txt")
    out.write_text("\n".join(lines) + "\n")
    return out


def _short(frame: str) -> str:
    """``handle (orders/handlers.py:123)`` without the line number and the site-packages prefix."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{os.sep}work{os.sep}main{os.sep}"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        written = summarize(Path(argument))
        if written is not None:
            print(written.read_text())
