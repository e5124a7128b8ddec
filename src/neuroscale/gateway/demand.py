"""Publishing demand to the autoscaler: the balancer's counters, written to `run/gateway.stats`.

The file is the gateway's half of the contract `engine.demand` reads: per
revision, cumulative `requests` and `busy` seconds (∫ in flight + waiting dt),
the current `active` and `waiting` counts, the wall time `at` they were taken
and this process's `pid` (a new pid means counters restarted). It is rewritten
atomically every `period` while any request is active or anything changed,
and at once when a request starts waiting (a revision at zero must start a
replica now, as Knative's activator pokes its autoscaler). Idle, it is not
rewritten at all.

The counters are read on the event loop, the file is written in a worker thread: creating and
renaming a file waits on the filesystem's journal, and on the loop that wait held up every request
in flight. Measured under `wrk -c16` through the gateway on a busy machine (issue 13): the write
took 0.8 ms at the median and up to 8 ms, ten times a second, which alone put a few ms on the p99.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from neuroscale.atomic_file import replace_file
from neuroscale.gateway.balancer import Balancer

STATS_VERSION = 1
log = logging.getLogger("neuroscale.gateway")


class DemandPublisher:
    def __init__(self, path: Path, balancer: Balancer, *, period: float = 0.1) -> None:
        self.path = path
        self.balancer = balancer
        self.period = period
        self._urgent = asyncio.Event()
        self._last: dict[str, Any] | None = None
        self._failing = False

    def poke(self) -> None:
        """A request started waiting: publish now rather than at the next period."""
        self._urgent.set()

    def snapshot(self) -> str | None:
        """The file's next content, or None when the counters have not moved and nothing is active."""
        revisions = self.balancer.stats()
        moved = {name: (r["requests"], r["active"], r["waiting"]) for name, r in revisions.items()}
        busy = any(r["active"] for r in revisions.values())
        if moved == self._last and not busy:
            return None
        self._last = moved
        document = {"version": STATS_VERSION, "pid": os.getpid(), "at": time.time(), "revisions": revisions}
        return json.dumps(document, separators=(",", ":"))

    def write(self, text: str) -> None:
        """Replace the file atomically: readers see the previous document or this one."""
        replace_file(self.path, text)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._urgent.wait(), self.period)
            except TimeoutError:
                pass
            self._urgent.clear()
            text = self.snapshot()
            if text is None:
                continue
            try:
                await asyncio.to_thread(self.write, text)
            except OSError as exc:  # a full disk must not stop routing; the autoscaler then sees no new demand
                if not self._failing:
                    log.warning("cannot publish demand to %s: %s", self.path, exc)
                self._failing = True
            else:
                self._failing = False
