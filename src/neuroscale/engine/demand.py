"""The gateway's demand report (`run/gateway.stats`), read into the autoscaler's per-revision history.

The gateway counts, per revision, the requests that arrived and the time
integral of requests in flight or waiting, and rewrites the file (atomically)
while anything changes, at once when a request waits for a revision at zero.
Counters are cumulative, so a missed write loses nothing; between writes the
integral is extrapolated with the in-flight count the gateway last reported.
A new gateway process (another pid) starts its counters at zero, which the
history notices. No gateway, no file: no demand.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroscale.engine.autoscaler import DemandHistory, Sample

STATS_VERSION = 1


@dataclass(frozen=True)
class RevisionDemand:
    requests: float
    busy: float  # ∫ (in flight + waiting) dt up to `at`
    active: int  # in flight + waiting at `at`
    waiting: int


class DemandReader:
    """Reads the stats file when it changes and feeds each revision's history every sample period."""

    def __init__(self, path: Path, *, period: float = 0.25, keep: float = 120.0) -> None:
        self.path = path
        self.period = period
        self.keep = keep
        self.histories: dict[str, DemandHistory] = {}
        self._stamp: tuple[int, int] | None = None
        self._at = 0.0  # wall time of the last report
        self._pid: int | None = None
        self._report: dict[str, RevisionDemand] = {}
        self._next_sample = 0.0

    def history(self, revision: str) -> DemandHistory:
        found = self.histories.get(revision)
        if found is None:
            found = self.histories[revision] = DemandHistory(keep=self.keep)
        return found

    def _read(self) -> bool:
        """Reload the file if it changed; True when it did."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        try:
            data: Any = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return False
        self._stamp = stamp
        if not isinstance(data, dict) or data.get("version") != STATS_VERSION:
            return False
        if data.get("pid") != self._pid:
            self._pid = data.get("pid") if isinstance(data.get("pid"), int) else None
            self.histories.clear()
        self._at = float(data.get("at") or 0.0)
        revisions = data.get("revisions")
        revisions = revisions if isinstance(revisions, dict) else {}
        self._report = {name: RevisionDemand(float(r.get("requests", 0)), float(r.get("busy", 0.0)),
                                             int(r.get("active", 0)), int(r.get("waiting", 0)))
                        for name, r in revisions.items() if isinstance(r, dict)}
        return True

    def sample(self, *, now: float, wall: float) -> None:
        """Add a sample to every reported revision's history (on a fresh report, else each period)."""
        fresh = self._read()
        if not fresh and now < self._next_sample:
            return
        self._next_sample = now + self.period
        for name, report in self._report.items():
            since = max(wall - self._at, 0.0) if report.active else 0.0
            self.history(name).add(Sample(at=now, requests=report.requests, busy=report.busy + report.active * since,
                                          waiting=report.waiting))

    def forget(self, keep: set[str]) -> None:
        for name in list(self.histories):
            if name not in keep:
                del self.histories[name]
