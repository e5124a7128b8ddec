"""One reconciler per platform home: an exclusive, non-blocking flock on run/reconciler.lock.

The kernel drops the lock when the process dies, so a crash never leaves a
stale lock behind (unlike a pid file).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from neuroscale import pidlock
from neuroscale.home import Home

LOCK_NAME = "reconciler.lock"


def lock_path(home: Home) -> Path:
    return home.run_dir / LOCK_NAME


def acquire(home: Home) -> IO[str]:
    """Hold the lock for as long as the returned file stays open."""
    return pidlock.acquire(lock_path(home), what=f"a reconciler for {home.root}",
                           fix="stop it first (`neuroscale down`) or use another --home")
