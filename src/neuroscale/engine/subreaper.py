"""The engine as a child subreaper, so model servers that warm spares fork are its children.

A spare forks each server through a middle process that exits at once (`neuroscale.serving.spare`);
Linux reparents the orphaned server to the nearest ancestor marked with `PR_SET_CHILD_SUBREAPER`
rather than to init. With the engine marked, it waits for those servers (`ForkedChild`) exactly as
for the ones it starts itself, and reads their exit status (a signal, an OOM kill, exit code 3) —
without the mark it could only tell that a server was gone. Only the engine's own process sets it:
a subreaper keeps every orphaned descendant as a zombie until it reaps it.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from dataclasses import dataclass

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_libc = ctypes.CDLL(None, use_errno=True)


def mark(on: bool = True) -> bool:
    """Mark this process a child subreaper (or drop the mark); False where the kernel refuses."""
    return bool(_libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)


def active() -> bool:
    """Is this process a child subreaper (so orphaned descendants become its children)?"""
    flag = ctypes.c_int(0)
    return bool(_libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value)


@dataclass
class ForkedChild:
    """A server a spare forked, now our child: `subprocess.Popen`'s `poll`/`wait` over `waitpid`."""

    pid: int
    returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code (negative: the signal), None while it runs; ChildProcessError if it is not ours."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.01)
        return code
