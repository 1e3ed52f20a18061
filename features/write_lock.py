"""One writer at a time per output: a non-blocking ``flock`` on a sidecar lock file.

Atomic renames keep a reader from seeing half a file, but two writers of the same target
would both succeed and the last would silently win (for a DuckDB file, the other writer's
table would be lost: each copies the file, changes its copy and renames it back). So a
writer first takes an exclusive lock on ``.<target name>.lock`` beside the target and
refuses at once, naming the target, when another process holds it. The lock is a sidecar
because the target itself is replaced by rename (a lock on the old inode would guard nothing);
the kernel drops it when the holder exits, so a killed writer never leaves a stale lock.
The file holds the holder's pid (for the refusal message) and is removed on release; one left
by a killed writer is harmless and goes with the next writer's release.

The lock is re-entrant within a process: ``churn score`` locks its outputs for the whole
run, and :func:`serving.outputs.write_scores` takes the same lock again when it writes.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class TargetBusy(RuntimeError):
    """Another process is writing the same target."""


_HELD: dict[Path, tuple[int, int]] = {}  # lock file -> (descriptor, depth) for this process
_GUARD = threading.Lock()


def lock_path(target: Path | str) -> Path:
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


@contextmanager
def write_lock(target: Path | str) -> Iterator[Path]:
    """Hold the write lock of ``target`` for the block, or raise :class:`TargetBusy` at once."""
    path = lock_path(Path(target).absolute())
    path.parent.mkdir(parents=True, exist_ok=True)
    with _GUARD:
        if path in _HELD:
            fd, depth = _HELD[path]
            _HELD[path] = (fd, depth + 1)
        else:
            _HELD[path] = (_acquire(path, Path(target)), 1)
    try:
        yield path
    finally:
        with _GUARD:
            fd, depth = _HELD[path]
            if depth > 1:
                _HELD[path] = (fd, depth - 1)
            else:
                del _HELD[path]
                _release(fd, path)


@contextmanager
def write_locks(*targets: Path | str | None) -> Iterator[None]:
    """Hold the locks of every given target (``None`` skipped), taken in a fixed order."""
    paths = sorted({Path(t).absolute() for t in targets if t is not None})
    if not paths:
        yield
        return
    with write_lock(paths[0]), write_locks(*paths[1:]):
        yield


def _acquire(path: Path, target: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise TargetBusy(
                f"{target}: another writer{by} is writing it; refused so neither run is lost; try again when it ends"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder removed the file between our open and our lock: lock the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _release(fd: int, path: Path) -> None:
    # Removed while still locked, so the next writer either locks this file before the removal
    # (and then sees it is gone, see _same_file) or creates a fresh one: never two holders.
    path.unlink(missing_ok=True)
    os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)
