"""Atomic writes of files and folders: the one way this project replaces anything on disk.

A file is written to ``.<name>.<pid>.tmp`` beside the target, flushed to disk and renamed
over the target, so a crash or a full disk leaves the previous file whole; temporaries of
writers no longer running are swept by the next write to the same target.

A folder (the model folder) is filled in a staging sibling ``.<name>.XXXXXXXX`` and swapped
in with one atomic *exchange* of the two directory entries (Linux ``renameat2`` with
``RENAME_EXCHANGE``, macOS ``renamex_np`` with ``RENAME_SWAP``): at every instant the target
is either the old folder or the new one, never absent, and it stays a plain, self-contained
directory that ``cp -r``, ``rsync``, MLflow and ``shutil.copytree`` handle as before. That is
why this was chosen over versioned folders behind a symlink: a relative link breaks when the
folder is copied or shipped, and turning today's plain folders into links cannot be done
atomically anyway. Where the filesystem has no exchange (NFS, some FUSE mounts) the swap
falls back to two renames with the old folder parked at ``.<name>.old``; a crash between
them is repaired by the next writer, and by :func:`recover_folder` (called when loading)
whenever no writer holds the lock, so a model is loadable after a crash at any step.

Folder writes hold :func:`features.write_lock.write_lock`, so the staging folders found by
the next writer are leftovers of killed runs and are removed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from features.write_lock import TargetBusy, write_lock

# Called after each step of a folder swap with the step's name; tests replace it to kill the
# writer there (fault injection), production leaves it a no-op.
after_step: Callable[[str], None] = lambda step: None  # noqa: E731


@contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """A temporary path that replaces ``target`` only if the block finishes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        tmp.replace(target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: Path | str, data: bytes) -> Path:
    with atomic_file(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: Path | str, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def sweep_temporaries(target: Path) -> list[Path]:
    """Remove temporary files of earlier writers to ``target`` that are no longer running."""
    swept = []
    for stray in target.parent.glob(f".{target.name}.*.tmp"):
        pid = stray.name[len(target.name) + 2 : -4]
        if not pid.isdigit() or _alive(int(pid)):
            continue  # a live writer's, or another target's (``.a.csv.bak.1.tmp`` is not ``a.csv``'s)
        stray.unlink(missing_ok=True)
        swept.append(stray)
    return swept


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def atomic_folder(target: Path | str) -> Iterator[Path]:
    """A staging folder to fill; it replaces ``target`` atomically only if the block finishes.

    Raises :class:`features.write_lock.TargetBusy` when another process is writing ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with write_lock(target):
        sweep_staging(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            yield staging
            _fsync_tree(staging)
            after_step("staged")
            swap_folder(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def swap_folder(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target``; afterwards ``new`` no longer exists."""
    if not target.exists():
        os.rename(new, target)
        _fsync_dir(target.parent)
        after_step("renamed")
        return
    if exchange(new, target):
        _fsync_dir(target.parent)
        after_step("exchanged")
        shutil.rmtree(new)  # now the old folder
        after_step("cleaned")
        return
    parked = parked_path(target)
    shutil.rmtree(parked, ignore_errors=True)
    os.rename(target, parked)
    after_step("parked")
    os.rename(new, target)
    _fsync_dir(target.parent)
    after_step("renamed")
    shutil.rmtree(parked)
    after_step("cleaned")


def parked_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def sweep_staging(target: Path) -> list[Path]:
    """Under the write lock: repair an interrupted fallback swap, remove staging folders of killed runs."""
    _restore_parked(target)
    # mkdtemp's suffix has no dot: ``.model.v2.abcd1234`` is the staging folder of ``model.v2``.
    swept = [
        p
        for p in target.parent.glob(f".{target.name}.*")
        if "." not in p.name[len(target.name) + 2 :] and p.is_dir() and not p.is_symlink()
    ]
    for folder in swept:
        shutil.rmtree(folder, ignore_errors=True)
    return swept


def recover_folder(target: Path | str) -> None:
    """Bring back the old folder if a writer died mid fallback swap and no writer is running now."""
    target = Path(target)
    if target.exists() or not parked_path(target).is_dir():
        return
    with suppress(TargetBusy), write_lock(target):
        _restore_parked(target)


def _restore_parked(target: Path) -> None:
    parked = parked_path(target)
    if not target.exists() and parked.is_dir():
        os.rename(parked, target)
        _fsync_dir(target.parent)


# --- the atomic exchange of two directory entries ---------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 2  # macOS sys/stdio.h
_NOT_SUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
_LIBC = ctypes.CDLL(None, use_errno=True)  # the C library already loaded into Python


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap the entries ``a`` and ``b``; False when the platform or filesystem cannot."""
    if sys.platform.startswith("linux") and hasattr(_LIBC, "renameat2"):  # glibc >= 2.28
        result = _LIBC.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    elif sys.platform == "darwin" and hasattr(_LIBC, "renamex_np"):
        result = _LIBC.renamex_np(os.fsencode(a), os.fsencode(b), _RENAME_SWAP)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in _NOT_SUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
