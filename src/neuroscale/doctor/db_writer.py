"""Which process holds the state database's write lock: the cause of a reconciler that waits on it.

SQLite in WAL mode (how `neuroscale.db` opens every connection) admits one
writer at a time by a POSIX lock on byte 120 of the `-shm` file; /proc/locks
lists who holds it. A reconciler blocked behind another program's open write
transaction (a `sqlite3` shell left in `BEGIN`, a backup tool) looks hung from
the outside; naming the holder turns "hung, read a stack dump" into "this
process holds the lock, end it".
"""

from __future__ import annotations

import os
from pathlib import Path

from neuroscale.ports import process_command

PROC_LOCKS = Path("/proc/locks")
#: SQLite's WAL writer lock: WALINDEX_LOCK_OFFSET (120) + WAL_WRITE_LOCK (0) in the shared-memory file.
WAL_WRITE_LOCK_BYTE = 120


def wal_writer(db: Path) -> dict[str, object] | None:
    """The pid and command holding `db`'s WAL write lock right now, or None (no writer, or no /proc/locks)."""
    try:
        shm = os.stat(f"{db}-shm")
        table = PROC_LOCKS.read_text()
    except OSError:
        return None
    device = f"{os.major(shm.st_dev):02x}:{os.minor(shm.st_dev):02x}:{shm.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter queued behind a holder, not a holder
            continue
        if len(fields) >= 8 and fields[1] == "POSIX" and fields[3] == "WRITE" and fields[5] == device \
                and int(fields[6]) <= WAL_WRITE_LOCK_BYTE <= _end(fields[7]):
            pid = int(fields[4])
            return {"pid": pid, "command": process_command(pid)}
    return None


def _end(field: str) -> int:
    return 1 << 62 if field == "EOF" else int(field)
