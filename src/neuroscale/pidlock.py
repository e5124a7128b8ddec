"""Exclusive, non-blocking flock files that also record the holder's pid.

The kernel drops the lock when the holder dies, so a crash never leaves a
stale lock (unlike a bare pid file), and the pid inside tells a second
process who to talk to. Used for "one supervisor per home" and "one
reconciler per home".
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from neuroscale.errors import AlreadyRunning


def acquire(path: Path, *, what: str, fix: str) -> IO[str]:
    """Hold the lock for as long as the returned file stays open; AlreadyRunning names the holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(f"{what} is already running (pid {holder})", where=str(path), fix=fix) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def is_held(path: Path) -> bool:
    """True while some live process holds the lock."""
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def holder_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
