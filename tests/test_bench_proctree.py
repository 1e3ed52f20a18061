"""bench.proctree: the sampled peak counts a child's children, and the cap kills the whole tree."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.proctree import run_sampled

MB = 2**20
# A parent that starts a child holding 150 MB, then holds 150 MB itself while the child lives.
HOLD = "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid())) if len(sys.argv) > 1 else None; b = bytearray({mb} * 2**20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep({seconds})"
TREE = (
    "import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', {child!r}, *sys.argv[1:]]); "
    + HOLD.format(mb=150, seconds=1.5)
    + "; child.wait()"
)


def _tree(seconds: float, *pid_file: Path) -> list[str]:
    code = TREE.format(child=HOLD.format(mb=150, seconds=seconds))
    return [sys.executable, "-c", code, *map(str, pid_file)]


def test_the_peak_sums_the_process_tree(tmp_path: Path) -> None:
    run = run_sampled(_tree(1.5), every=0.05, log=tmp_path / "log")
    assert run.returncode == 0 and not run.exceeded
    assert run.peak_rss > 300 * MB  # both processes' 150 MB, which neither holds alone


def test_a_tree_above_the_cap_is_killed_and_reported(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    run = run_sampled(_tree(600, pid_file), every=0.05, max_rss=250 * MB, log=tmp_path / "log")
    assert run.exceeded and run.returncode is None
    grandchild = Path("/proc") / pid_file.read_text()
    # killed with its parent (its process group), not left to sleep: gone, or a zombie until
    # reaped. SIGKILL is delivered asynchronously, so a loaded machine may show it running a moment longer.
    for _ in range(100):
        if not grandchild.exists() or "State:\tZ" in (grandchild / "status").read_text():
            break
        time.sleep(0.05)
    assert not grandchild.exists() or "State:\tZ" in (grandchild / "status").read_text()
