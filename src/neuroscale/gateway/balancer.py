"""Where a request goes: which revision (the traffic split), which replica, or how long it waits.

- Revision: smooth weighted round-robin over the route's shares (nginx's
  algorithm), so over every 100 requests a 20/80 split is exact and
  consecutive requests interleave instead of arriving in bursts.
- Replica: the one with the fewest requests in flight (least outstanding
  requests, as Knative's activator and Envoy do), and never one already at the
  revision's `containerConcurrency`.
- Waiting: when the chosen revision has no replica with room — scaled to zero,
  restarting, or every replica at its limit — the request waits, as it would
  at Knative's activator, until a replica frees up or appears. Waiting is
  bounded in count and in time; beyond either the caller answers 503 with the
  reason, never hangs.
- Demand: per revision, requests that arrived and the time integral of
  requests in flight or waiting, which the gateway publishes for the
  autoscaler (`engine.demand`).

Pure asyncio, no I/O: the proxy calls `acquire`/`release` around each
forwarded request and `sync` when the routes file changes.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Address = tuple[str, int]


class NoCapacity(Exception):
    """The request could not get a replica within the bounds; `reason` is for the 503 body."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Replica:
    address: Address
    inflight: int = 0


@dataclass
class RevisionPool:
    """One revision's replicas, its waiting requests and its demand counters."""

    name: str
    clock: Callable[[], float]
    concurrency: int = 0  # per replica; 0 = no limit
    replicas: dict[Address, Replica] = field(default_factory=dict)
    waiters: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)
    requests: int = 0
    busy: float = 0.0
    active: int = 0  # in flight + waiting
    since: float = 0.0

    def _account(self) -> None:
        now = self.clock()
        self.busy += self.active * (now - self.since)
        self.since = now

    def update(self, upstreams: Iterable[Address], *, concurrency: int) -> None:
        """New replica set (in-flight counts of kept replicas survive) and limit; wakes waiters for new room."""
        wanted = list(upstreams)
        self.replicas = {a: self.replicas.get(a) or Replica(a) for a in wanted}
        self.concurrency = concurrency
        self._wake()

    def _free(self) -> Replica | None:
        open_replicas = [r for r in self.replicas.values() if not self.concurrency or r.inflight < self.concurrency]
        return min(open_replicas, key=lambda r: r.inflight) if open_replicas else None

    def _wake(self) -> None:
        room = sum(max(self.concurrency - r.inflight, 0) for r in self.replicas.values()) if self.concurrency \
            else (len(self.waiters) if self.replicas else 0)
        while self.waiters and room > 0:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    @property
    def waiting(self) -> int:
        return sum(1 for w in self.waiters if not w.done())

    def arrive(self) -> None:
        self._account()
        self.requests += 1
        self.active += 1

    def leave(self) -> None:
        self._account()
        self.active -= 1

    async def acquire(self, *, max_waiting: int, wait: float, on_wait: Callable[[], None]) -> Replica:
        """A replica with room, waiting at most `wait` seconds behind at most `max_waiting` others."""
        deadline = self.clock() + wait
        while True:
            replica = self._free()
            if replica is not None:
                replica.inflight += 1
                return replica
            if self.waiting >= max_waiting:
                raise NoCapacity("TooManyWaiting", f"{self.waiting} requests already wait for revision {self.name}")
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            on_wait()
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                break
            finally:
                if not waiter.done():
                    waiter.cancel()
        what = "no replica started" if not self.replicas else "every replica stayed at its concurrency limit"
        raise NoCapacity("NoReplicaAvailable", f"revision {self.name}: {what} within {wait:g}s")

    def release(self, replica: Replica) -> None:
        replica.inflight = max(replica.inflight - 1, 0)
        self._wake()

    def stats(self) -> dict[str, Any]:
        self._account()
        return {"requests": self.requests, "busy": round(self.busy, 6), "active": self.active,
                "waiting": self.waiting}


@dataclass
class Split:
    """Smooth weighted round-robin state over one route's revisions."""

    shares: tuple[tuple[str, int], ...]
    current: dict[str, int] = field(default_factory=dict)

    def pick(self) -> str | None:
        live = [(name, weight) for name, weight in self.shares if weight > 0]
        if not live:
            return None
        total = sum(weight for _, weight in live)
        for name, weight in live:
            self.current[name] = self.current.get(name, 0) + weight
        chosen = max(live, key=lambda item: self.current[item[0]])[0]
        self.current[chosen] -= total
        return chosen


@dataclass
class Balancer:
    """Every revision pool and route split of one gateway process."""

    clock: Callable[[], float]
    pools: dict[str, RevisionPool] = field(default_factory=dict)
    splits: dict[str, Split] = field(default_factory=dict)

    def pool(self, revision: str) -> RevisionPool:
        found = self.pools.get(revision)
        if found is None:
            found = self.pools[revision] = RevisionPool(revision, self.clock, since=self.clock())
        return found

    def sync(self, routes: Iterable[tuple[str, tuple[tuple[str, int, tuple[Address, ...]], ...], int]]) -> None:
        """Adopt a new routes table: (endpoint, ((revision, percent, upstreams), …), concurrency) per route."""
        seen: set[str] = set()
        for endpoint, revisions, concurrency in routes:
            shares = tuple((revision, percent) for revision, percent, _ in revisions)
            if endpoint not in self.splits or self.splits[endpoint].shares != shares:
                self.splits[endpoint] = Split(shares)
            for revision, _, upstreams in revisions:
                self.pool(revision).update(upstreams, concurrency=concurrency)
                seen.add(revision)
        for name, pool in list(self.pools.items()):
            if name not in seen:
                pool.update((), concurrency=pool.concurrency)  # its waiters time out with the reason
                if not pool.active:
                    del self.pools[name]

    def choose(self, endpoint: str) -> RevisionPool | None:
        split = self.splits.get(endpoint)
        revision = split.pick() if split else None
        return self.pool(revision) if revision else None

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: pool.stats() for name, pool in self.pools.items()}

    @property
    def addresses(self) -> set[Address]:
        return {address for pool in self.pools.values() for address in pool.replicas}
