"""One reconciler per platform home: an exclusive, non-blocking flock on run/reconciler.lock.

The kernel drops the lock when the process dies, so a crash never leaves a
stale lock behind (unlike a pid file).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from neuroscale.errors import AlreadyRunning
from neuroscale.home import Home

LOCK_NAME = "reconciler.lock"


def lock_path(home: Home) -> Path:
    return home.run_dir / LOCK_NAME


def acquire(home: Home) -> IO[str]:
    """Hold the lock for as long as the returned file stays open."""
    path = lock_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyRunning(
            f"a reconciler is already running for {home.root} (pid {holder})",
            where=str(path), fix="stop it first (`neuroscale down`) or use another --home",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
