"""Recorded requests: a bounded, rotating sample of an endpoint's live traffic, kept on this machine.

Only endpoints that opt in (`serving.neuroscale.io/record-requests`) are
recorded, and only requests the model answered with 200 — what a prediction
diff can replay. The hot path appends the body to an in-memory ring (bounded
in requests and bytes, oldest dropped first; a request older than the
endpoint's retention is dropped at the next flush); a background task rewrites
`<home>/samples/<endpoint>.jsonl` atomically when the ring changed, one
request body per line (JSON re-serialised on one line; a body that is not
JSON is left out there). Samples can hold personal data: they never leave
the machine, only their owner may read them (a 0700 directory of 0600
files), the README says so, and no log line quotes them. A request a browser
sent from a web page (it names its `Origin`) is served but not recorded: any
site the user opens can make their browser POST to the gateway on 127.0.0.1
(a `no-cors` text/plain request needs no preflight), and what is recorded
decides the next pull request's prediction-diff gate. A write that fails
(a full or read-only disk) is logged once and retried at the next flush,
never raised: neither routing nor the gateway's shutdown waits on it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from neuroscale.atomic_file import replace_file
from neuroscale.home import recording_file

log = logging.getLogger("neuroscale.gateway")


def sent_by_a_page(headers: list[tuple[bytes, bytes]]) -> bool:
    """Did a browser send the request from a web page? It names the page's origin; curl and SDKs do not."""
    return any(name.lower() == b"origin" for name, _ in headers)


@dataclass
class Ring:
    max_requests: int
    max_bytes: int
    retention_s: float = 0.0  # 0: kept until the caps push it out
    bodies: collections.deque[tuple[float, bytes]] = field(default_factory=collections.deque)  # (kept at, body)
    size: int = 0
    dirty: bool = False

    def add(self, body: bytes, now: float) -> None:
        if len(body) > self.max_bytes:
            return
        self.bodies.append((now, body))
        self.size += len(body)
        while len(self.bodies) > self.max_requests or self.size > self.max_bytes:
            self._drop_oldest()
        self.dirty = True

    def expire(self, now: float) -> None:
        """Drop what was kept longer than the retention ago."""
        while self.retention_s and self.bodies and now - self.bodies[0][0] > self.retention_s:
            self._drop_oldest()
            self.dirty = True

    def _drop_oldest(self) -> None:
        self.size -= len(self.bodies.popleft()[1])


class Recorder:
    def __init__(self, directory: Path, *, period: float = 1.0) -> None:
        self.directory = directory
        self.period = period
        self.rings: dict[str, Ring] = {}
        self.failing: set[str] = set()  # endpoints whose last write failed (logged once until one succeeds)

    def keep(self, endpoint: str, body: bytes, *, max_requests: int, max_bytes: int, retention_s: float = 0.0,
             now: float | None = None) -> None:
        """Add one answered request's body (O(1) on the hot path)."""
        ring = self.rings.get(endpoint)
        if ring is None or (ring.max_requests, ring.max_bytes, ring.retention_s) != (max_requests, max_bytes,
                                                                                       retention_s):
            ring = self.rings[endpoint] = Ring(max_requests, max_bytes, retention_s,
                                               ring.bodies if ring else collections.deque(), ring.size if ring else 0)
        ring.add(body, time.time() if now is None else now)

    def flush(self, now: float | None = None) -> int:
        """Rewrite the sample file of every endpoint whose ring changed or expired; returns how many were written."""
        written = 0
        for endpoint, ring in self.rings.items():
            ring.expire(time.time() if now is None else now)
            if not ring.dirty:
                continue
            lines = []
            for _, body in ring.bodies:
                try:
                    lines.append(orjson.dumps(orjson.loads(body)))
                except orjson.JSONDecodeError:
                    continue
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                replace_file(recording_file(self.directory, endpoint), b"\n".join(lines) + (b"\n" if lines else b""),
                             private=True)
            except OSError as exc:  # kept dirty: the next flush tries again
                if endpoint not in self.failing:
                    log.warning("cannot write the recorded requests of %s to %s: %s", endpoint, self.directory,
                                exc.strerror or type(exc).__name__)
                self.failing.add(endpoint)
                continue
            if endpoint in self.failing:
                self.failing.discard(endpoint)
                log.info("recorded requests of %s written to %s again", endpoint, self.directory)
            ring.dirty = False
            written += 1
        return written

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.flush()
