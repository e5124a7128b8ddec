"""Run one piece of work in a forked child while the parent goes on: the machine's second core.

The check's stages are CPU-bound Python, so threads would take turns; a child
forked after the imports and the parse shares the modules and the view
copy-on-write, so nothing goes in and only the result (findings) is pickled
back through a pipe. Any failure of the child — it raised, died, or sent
something unreadable — makes the parent do the work itself, so a result
(or the exception) is always the one the work gives inline; forking never
changes an answer, only when it is computed.

Only a single-threaded process may fork safely (a lock held by another thread
stays locked in the child), so callers opt in — the CLI does, the embedded
platform's server does not — and a process that has started threads anyway
does the work inline.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def start(work: Callable[[], T], *, fork: bool) -> Callable[[], T]:
    """Begin `work` (in a child when `fork` and the platform can); call the result to get its value."""
    if not fork or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2 or threading.active_count() > 1:
        return work
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
        status = 1
        try:
            os.close(read_end)
            payload = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)

    def result() -> T:
        with os.fdopen(read_end, "rb") as inp:
            payload = inp.read()
        _, status = os.waitpid(pid, 0)
        if status == 0:
            try:
                return pickle.loads(payload)  # type: ignore[no-any-return]  # noqa: S301 - our own child's output
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
                pass
        return work()  # the child failed: the same work inline, raising what it raises

    return result
