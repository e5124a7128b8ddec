"""Recorded requests: a bounded, rotating sample of an endpoint's live traffic, kept on this machine.

Only endpoints that opt in (`serving.neuroscale.io/record-requests`) are
recorded, and only requests the model answered with 200 — what a prediction
diff can replay. The hot path appends the body to an in-memory ring (bounded
in requests and bytes, oldest dropped first); a background task rewrites
`<home>/samples/<endpoint>.jsonl` atomically when the ring changed, one
request body per line (JSON re-serialised on one line; a body that is not
JSON is left out there). Samples can hold personal data: they never leave
the machine, and the README says so.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

log = logging.getLogger("neuroscale.gateway")


@dataclass
class Ring:
    max_requests: int
    max_bytes: int
    bodies: collections.deque[bytes] = field(default_factory=collections.deque)
    size: int = 0
    dirty: bool = False

    def add(self, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        self.bodies.append(body)
        self.size += len(body)
        while len(self.bodies) > self.max_requests or self.size > self.max_bytes:
            self.size -= len(self.bodies.popleft())
        self.dirty = True


class Recorder:
    def __init__(self, directory: Path, *, period: float = 1.0) -> None:
        self.directory = directory
        self.period = period
        self.rings: dict[str, Ring] = {}

    def keep(self, endpoint: str, body: bytes, *, max_requests: int, max_bytes: int) -> None:
        """Add one answered request's body (O(1) on the hot path)."""
        ring = self.rings.get(endpoint)
        if ring is None or (ring.max_requests, ring.max_bytes) != (max_requests, max_bytes):
            ring = self.rings[endpoint] = Ring(max_requests, max_bytes, ring.bodies if ring else collections.deque(),
                                               ring.size if ring else 0)
        ring.add(body)

    def flush(self) -> int:
        """Rewrite the sample file of every endpoint whose ring changed; returns how many were written."""
        written = 0
        for endpoint, ring in self.rings.items():
            if not ring.dirty:
                continue
            ring.dirty = False
            lines = []
            for body in ring.bodies:
                try:
                    lines.append(orjson.dumps(orjson.loads(body)))
                except orjson.JSONDecodeError:
                    continue
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / f"{endpoint}.jsonl"
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
            os.replace(tmp, target)
            written += 1
        return written

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                self.flush()
            except OSError as exc:  # a full disk must not stop routing
                log.warning("cannot write recorded requests to %s: %s", self.directory, exc)
