"""Shadow traffic: a share of an endpoint's live requests, copied to its newest revision, never in the way.

With `serving.neuroscale.io/shadow-percent: P` and a latest revision that gets
no traffic of its own (a merged canary at 0 %), P % of the requests answered
by the serving revision are sent again to the latest one after the client has
its answer. The copy never delays or changes a client's response: it starts
after the primary answered, takes a replica only if one is free at once,
gives up at the request timeout, and at most `max_inflight` copies are queued
or running. Each outcome — agree, disagree, error (the shadow failed where the
primary answered), skipped (no free replica, too many in flight) — is counted
per endpoint and published (`run/shadow.json`) for status, the portal and
metrics.

All of it runs in the shadow worker (`shadow_worker`), a process of its own the
gateway starts: the gateway's request path only hands each copy over, as bytes
(`shadow_feed`), and which requests are copied (`shadow_feed.ShadowFeed.due`) and
the copies it could not hand over are the gateway's; everything here is the worker's.

Copies are coalesced: the shadow path is not latency-critical, so copies wait up
to `hold` seconds for mates (or until `batch_rows` of them wait) and go to the
shadow revision as predict calls of at most `batch_rows` rows (`coalesce`: the
copies that concatenate), each answer compared with every copy's primary answer.
Serving every copy alone cost the shadow model server half the primary's CPU and
the gateway 25-40 % more per request (bench/RESULTS.md, issue 15). Reading the
copies is left to the batch too: `send` only appends the copy to its revision's
waiting list, and each batch reads, joins and compares its copies in bulk. A
joined call that fails with an answer (one member the shadow rejects, an
answer that does not split) is asked again copy by copy, so only the rejected
copies count as errors; a call that gets no answer at all (shadow down,
hanging) is an error for each member. Latency stays comparable: at most one
copy per `lone_period` per endpoint (the first one included), and every copy
that cannot be joined, is sent alone, and only those give the latency pair (the
primary's and the shadow's on the same request); a batch's time says nothing
about one request's.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from neuroscale.agreement import agree, latency_quantiles
from neuroscale.gateway import coalesce
from neuroscale.gateway.balancer import Balancer, NoCapacity
from neuroscale.gateway.upstream import (Answer, UpstreamBroken, UpstreamGone, UpstreamPool, UpstreamTimeout,
                                         upstream_request)

_LATENCIES_KEPT = 512
SHADOW_OUTCOMES = ("agree", "disagree", "error", "skipped")
_NO_ANSWER = (NoCapacity, UpstreamGone, UpstreamTimeout, UpstreamBroken)


@dataclass
class ShadowStats:
    revision: str = ""
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    primary_ms: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=_LATENCIES_KEPT))
    shadow_ms: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=_LATENCIES_KEPT))
    lone_at: float = -math.inf  # when the endpoint's last copy went alone (time.monotonic)

    def to_dict(self) -> dict[str, Any]:
        compared = self.outcomes["agree"] + self.outcomes["disagree"]
        return {"revision": self.revision, **{k: self.outcomes[k] for k in SHADOW_OUTCOMES},
                "agreement": round(self.outcomes["agree"] / compared, 6) if compared else None,
                "primary_ms": latency_quantiles(self.primary_ms), "shadow_ms": latency_quantiles(self.shadow_ms)}


# One copy as the request path leaves it: its endpoint's stats, upstream head and body, the primary's answer
# body and latency (ms). A plain tuple: the mirror keeps one per live request.
Copy = tuple[ShadowStats, bytes, bytes, bytes, float]


class Mirror:
    def __init__(self, balancer: Balancer, pool: UpstreamPool, *, max_inflight: int = 1024, timeout: float = 30.0,
                 batch_rows: int = 512, hold: float = 0.1, lone_period: float = 0.25) -> None:
        self.balancer = balancer
        self.pool = pool
        self.max_inflight = max_inflight
        self.timeout = timeout
        self.batch_rows = batch_rows
        self.hold = hold
        self.lone_period = lone_period
        self.inflight = 0
        self.stats: dict[str, ShadowStats] = {}
        self._waiting: dict[str, list[Copy]] = {}  # per shadow revision: copies waiting for mates
        self._release_at: dict[str, asyncio.Handle] = {}  # per shadow revision: when its waiting copies go
        self._changed = False
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, endpoint: str, revision: str, head: bytes, body: bytes, primary: bytes,
             primary_ms: float) -> None:
        """Copy a request (its upstream head and body) whose primary answer was `primary`.

        It reads nothing: the copy waits, as is, for its batch (`_release`)."""
        stats = self._stats(endpoint, revision)
        if self.inflight >= self.max_inflight:
            stats.outcomes["skipped"] += 1
            return
        self.inflight += 1
        copy = (stats, head, body, primary, primary_ms)
        if time.monotonic() - stats.lone_at >= self.lone_period or len(body) > coalesce.MAX_MEMBER_BYTES:
            self._lone(revision, copy)
            return
        waiting = self._waiting.get(revision)
        if waiting is None:
            waiting = self._waiting[revision] = []
            self._release_at[revision] = asyncio.get_running_loop().call_later(self.hold, self._release, revision)
        waiting.append(copy)
        if len(waiting) == self.batch_rows:  # a full call's rows (at least) wait: no reason to hold them
            self._release_at[revision].cancel()
            self._release_at[revision] = asyncio.get_running_loop().call_soon(self._release, revision)

    def skipped(self, endpoint: str, revision: str, count: int) -> None:
        """Copies the gateway could not hand over (this worker was down or behind): counted as skipped."""
        self._stats(endpoint, revision).outcomes["skipped"] += count

    def resume(self, published: dict[str, Any]) -> None:
        """Go on counting from a comparison an earlier worker published (its latencies are not kept)."""
        for endpoint, entry in published.items():
            if isinstance(entry, dict) and isinstance(entry.get("revision"), str):
                stats = self._stats(endpoint, entry["revision"])
                for outcome in SHADOW_OUTCOMES:
                    if isinstance(entry.get(outcome), int):
                        stats.outcomes[outcome] = entry[outcome]

    def _stats(self, endpoint: str, revision: str) -> ShadowStats:
        stats = self.stats.get(endpoint) or self.stats.setdefault(endpoint, ShadowStats())
        stats.revision = revision
        self._changed = True
        return stats

    def _release(self, revision: str) -> None:
        """The waiting copies, read in one pass: joined into calls, and those that cannot join sent alone."""
        del self._release_at[revision]
        copies = self._waiting.pop(revision)
        calls, alone = coalesce.plan([c[1] for c in copies], [c[2] for c in copies], max_rows=self.batch_rows)
        for index in alone:
            self._lone(revision, copies[index])
        for call in calls:
            self._start(self._joined(revision, call, [copies[i] for i in call.copies]))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lone(self, revision: str, copy: Copy) -> None:
        """Send a copy alone and time it: the primary's and the shadow's latency on the same request."""
        stats = copy[0]
        stats.lone_at = time.monotonic()
        stats.primary_ms.append(copy[4])
        self._start(self._alone(revision, copy, timed=True))

    async def _alone(self, revision: str, copy: Copy, *, timed: bool) -> None:
        started = time.perf_counter()
        try:
            answer = await self._exchange(revision, upstream_request(copy[1], copy[2]))
        except _NO_ANSWER as exc:
            self._count(copy, exc)
            return
        if timed:
            copy[0].shadow_ms.append((time.perf_counter() - started) * 1000)
        self._count(copy, _body(answer))

    async def _joined(self, revision: str, call: coalesce.Call, copies: list[Copy]) -> None:
        """One call for `copies`; its answer compared with all their primary answers at once."""
        try:
            answer = await self._exchange(revision, upstream_request(call.head, call.body()))
        except _NO_ANSWER as exc:
            for copy in copies:
                self._count(copy, exc)
            return
        agreed = coalesce.compare(call, answer.body, [c[3] for c in copies]) if answer.status == 200 else None
        if agreed is not None:
            self.inflight -= len(copies)
            self._changed = True
            for copy, same in zip(copies, agreed, strict=True):
                copy[0].outcomes["agree" if same else "disagree"] += 1
        elif len(copies) == 1:
            self._count(copies[0], _body(answer))
        else:  # one copy the shadow rejects fails alone
            await asyncio.gather(*(self._alone(revision, copy, timed=False) for copy in copies))

    async def _exchange(self, revision: str, raw: bytes) -> Answer:
        pool = self.balancer.pools.get(revision)
        if pool is None:
            raise NoCapacity("NoRevision", "no such revision")
        pool.arrive()
        try:
            replica = await pool.acquire(max_waiting=0, wait=0.0, on_wait=lambda: None)
            try:
                return await self.pool.exchange(replica.address, raw, head_only=False, timeout=self.timeout)
            finally:
                pool.release(replica)
        finally:
            pool.leave()

    def _count(self, copy: Copy, outcome: Any) -> None:
        """One copy's outcome: the shadow's answer body (parsed), or why there is none."""
        self.inflight -= 1
        self._changed = True
        stats, primary = copy[0], copy[3]
        if isinstance(outcome, NoCapacity):
            stats.outcomes["skipped"] += 1
        elif isinstance(outcome, BaseException):
            stats.outcomes["error"] += 1
        elif type(outcome) is dict and "predictions" in outcome and orjson.dumps(outcome) == primary:
            stats.outcomes["agree"] += 1  # the same bytes: most V1 copies, without parsing the primary's answer
        else:
            try:
                same = agree(orjson.loads(primary), outcome)
            except orjson.JSONDecodeError:
                same = False
            stats.outcomes["agree" if same else "disagree"] += 1

    def summary(self) -> dict[str, dict[str, Any]] | None:
        """Every endpoint's comparison (`ShadowStats.to_dict`), or None when nothing moved since the last one."""
        if not self._changed:
            return None
        self._changed = False
        return {name: s.to_dict() for name, s in self.stats.items()}


class _Refused(Exception):
    """The shadow answered, but not with 200."""


def _body(answer: Answer) -> Any:
    """A shadow answer as compared: the parsed 200 body (a non-JSON one as is: it never agrees), or a refusal."""
    if answer.status != 200:
        return _Refused(answer.status)
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return answer.body  # a 200 that is not JSON: compared (and never agrees), as before
