"""Shadow traffic: a share of an endpoint's live requests, copied to its newest revision, never in the way.

With `serving.neuroscale.io/shadow-percent: P` and a latest revision that gets
no traffic of its own (a merged canary at 0 %), P % of the requests answered
by the serving revision are sent again to the latest one after the client has
its answer. The copy never delays or changes a client's response: it starts
after the primary answered, takes a replica only if one is free at once,
gives up at the request timeout, and at most `max_inflight` copies run. Each
outcome — agree, disagree, error (the shadow failed where the primary
answered), skipped (no free replica, too many in flight) — and both
latencies are counted per endpoint and published (`run/shadow.json`) for
status, the portal and metrics.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from neuroscale.agreement import agree
from neuroscale.gateway.balancer import Balancer, NoCapacity
from neuroscale.gateway.upstream import UpstreamBroken, UpstreamGone, UpstreamPool, UpstreamTimeout

_LATENCIES_KEPT = 512
SHADOW_OUTCOMES = ("agree", "disagree", "error", "skipped")


@dataclass
class ShadowStats:
    revision: str = ""
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    primary_ms: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=_LATENCIES_KEPT))
    shadow_ms: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=_LATENCIES_KEPT))

    def to_dict(self) -> dict[str, Any]:
        compared = self.outcomes["agree"] + self.outcomes["disagree"]
        return {"revision": self.revision, **{k: self.outcomes[k] for k in SHADOW_OUTCOMES},
                "agreement": round(self.outcomes["agree"] / compared, 6) if compared else None,
                "primary_ms": _quantiles(self.primary_ms), "shadow_ms": _quantiles(self.shadow_ms)}


def _quantiles(samples: collections.deque[float]) -> dict[str, float] | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return {"p50": round(ordered[len(ordered) // 2], 3), "p99": round(ordered[min(len(ordered) - 1,
                                                                                  int(len(ordered) * 0.99))], 3)}


class Mirror:
    def __init__(self, balancer: Balancer, pool: UpstreamPool, *, path: Path | None, max_inflight: int = 64,
                 timeout: float = 30.0) -> None:
        self.balancer = balancer
        self.pool = pool
        self.path = path
        self.max_inflight = max_inflight
        self.timeout = timeout
        self.inflight = 0
        self.stats: dict[str, ShadowStats] = {}
        self._credit: dict[str, int] = {}
        self._changed = False
        self._tasks: set[asyncio.Task[None]] = set()

    def due(self, endpoint: str, percent: int) -> bool:
        """Whether this request is one of the `percent` % copied (evenly spread, exact over 100 requests)."""
        credit = self._credit.get(endpoint, 0) + percent
        self._credit[endpoint] = credit % 100 if credit >= 100 else credit
        return credit >= 100

    def send(self, endpoint: str, revision: str, raw: bytes, primary: bytes, primary_ms: float) -> None:
        stats = self.stats.setdefault(endpoint, ShadowStats())
        stats.revision = revision
        stats.primary_ms.append(primary_ms)
        self._changed = True
        if self.inflight >= self.max_inflight:
            stats.outcomes["skipped"] += 1
            return
        self.inflight += 1
        task = asyncio.get_running_loop().create_task(self._copy(stats, revision, raw, primary))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _copy(self, stats: ShadowStats, revision: str, raw: bytes, primary: bytes) -> None:
        pool = self.balancer.pools.get(revision)
        started = time.perf_counter()
        try:
            if pool is None:
                raise NoCapacity("NoRevision", "no such revision")
            pool.arrive()
            try:
                replica = await pool.acquire(max_waiting=0, wait=0.0, on_wait=lambda: None)
                try:
                    answer = await self.pool.exchange(replica.address, raw, head_only=False, timeout=self.timeout)
                finally:
                    pool.release(replica)
            finally:
                pool.leave()
        except NoCapacity:
            stats.outcomes["skipped"] += 1
            return
        except (UpstreamGone, UpstreamTimeout, UpstreamBroken):
            stats.outcomes["error"] += 1
            return
        finally:
            self.inflight -= 1
            self._changed = True
        stats.shadow_ms.append((time.perf_counter() - started) * 1000)
        if answer.status != 200:
            stats.outcomes["error"] += 1
            return
        try:
            same = agree(orjson.loads(primary), orjson.loads(answer.body))
        except orjson.JSONDecodeError:
            same = False
        stats.outcomes["agree" if same else "disagree"] += 1

    def publish(self) -> bool:
        if not self._changed or self.path is None:
            return False
        self._changed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({name: s.to_dict() for name, s in self.stats.items()}))
        os.replace(tmp, self.path)
        return True

    async def run(self, period: float = 1.0) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                self.publish()
            except OSError:
                self._changed = True  # retried next period; routing goes on
