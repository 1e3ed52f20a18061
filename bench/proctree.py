"""Run a command and sample the resident memory of its whole process tree (Linux /proc).

``ru_maxrss`` of the children is the maximum over every child so far and misses a tree's
sum (Spark's JVM, joblib workers), so the benchmark polls ``/proc`` instead: every
``every`` seconds it sums VmRSS over the child and its descendants, keeps the peak, and
kills the tree when the sum passes a cap (the machine is shared).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Run:
    """One command's outcome: exit code (None when killed at the cap), wall seconds, peak tree RSS."""

    returncode: int | None
    seconds: float
    peak_rss: int
    exceeded: bool
    stderr_tail: str


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            kids += [int(k) for k in (task / "children").read_text().split()]
    except OSError:  # the process ended between two reads
        pass
    return kids


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += _children(current)
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of one process, 0 once it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    return sum(rss_bytes(p) for p in tree(pid))


def run_sampled(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    max_rss: int | None = None,
    every: float = 0.1,
    log: Path | None = None,
) -> Run:
    """Run ``argv`` to its end (or to the memory cap), sampling its tree's RSS."""
    log = log or Path(os.devnull)
    with open(log, "wb") as sink:
        start = time.perf_counter()
        # A new session, so the cap can kill the whole tree by its process group.
        child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        peak, exceeded = 0, False
        while child.poll() is None:
            peak = max(peak, tree_rss(child.pid))
            if max_rss is not None and peak > max_rss:
                exceeded = True
                os.killpg(child.pid, signal.SIGKILL)
                break
            time.sleep(every)
        returncode = child.wait()
        seconds = time.perf_counter() - start
    tail = "" if log == Path(os.devnull) else log.read_text(errors="replace")[-2000:]
    return Run(None if exceeded else returncode, seconds, peak, exceeded, tail)
