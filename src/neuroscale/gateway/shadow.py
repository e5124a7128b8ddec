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

Copies are coalesced: the shadow path is not latency-critical, so copies that
concatenate (`coalesce`) wait up to `hold` seconds for mates and go to the
shadow revision as one predict call of at most `batch_rows` rows (the model
server's `batching.Batcher`, with an HTTP exchange as its batch), and the
answer is split back and compared per copy. Serving every copy alone cost the
shadow model server half the primary's CPU and the gateway 25-40 % more per
request (bench/RESULTS.md, issue 15). A joined call that fails with an answer
(one member the shadow rejects, an answer that does not split) is asked again
copy by copy, so only the rejected copies count as errors; a call that gets
no answer at all (shadow down, hanging) is an error for each member. Latency
stays comparable: at most one copy per `lone_period` per endpoint (the first
one included), and every copy that cannot be joined, is sent alone, and only
those give the latency pair (the primary's and the shadow's on the same
request); a batch's time says nothing about one request's.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from neuroscale.agreement import agree, latency_quantiles
from neuroscale.batching import Batcher
from neuroscale.gateway import coalesce
from neuroscale.gateway.balancer import Balancer, NoCapacity
from neuroscale.gateway.coalesce import Member
from neuroscale.gateway.upstream import (Answer, UpstreamBroken, UpstreamGone, UpstreamPool, UpstreamTimeout,
                                         upstream_request)

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
                "primary_ms": latency_quantiles(self.primary_ms), "shadow_ms": latency_quantiles(self.shadow_ms)}


class Mirror:
    def __init__(self, balancer: Balancer, pool: UpstreamPool, *, path: Path | None, max_inflight: int = 1024,
                 timeout: float = 30.0, batch_rows: int = 512, hold: float = 0.1, lone_period: float = 0.25) -> None:
        self.balancer = balancer
        self.pool = pool
        self.path = path
        self.max_inflight = max_inflight
        self.timeout = timeout
        self.batch_rows = batch_rows
        self.hold = hold
        self.lone_period = lone_period
        self.inflight = 0
        self.stats: dict[str, ShadowStats] = {}
        self._credit: dict[str, int] = {}
        self._lone_at: dict[str, float] = {}  # when the endpoint's last copy went alone
        self._batchers: dict[str, Batcher[Member, Any]] = {}
        self._changed = False
        self._tasks: set[asyncio.Task[None]] = set()

    def due(self, endpoint: str, percent: int) -> bool:
        """Whether this request is one of the `percent` % copied (evenly spread, exact over 100 requests)."""
        credit = self._credit.get(endpoint, 0) + percent
        self._credit[endpoint] = credit % 100 if credit >= 100 else credit
        return credit >= 100

    def send(self, endpoint: str, revision: str, head: bytes, body: bytes, primary: bytes,
             primary_ms: float) -> None:
        """Copy a request (its upstream head and body) whose primary answer was `primary`."""
        stats = self.stats.get(endpoint) or self.stats.setdefault(endpoint, ShadowStats())
        stats.revision = revision
        self._changed = True
        if self.inflight >= self.max_inflight:
            stats.outcomes["skipped"] += 1
            return
        self.inflight += 1
        now = time.monotonic()
        lone = now - self._lone_at.get(endpoint, -self.lone_period) >= self.lone_period
        member = None if lone else coalesce.member_of(head, body)
        if member is None:
            self._lone_at[endpoint] = now
            stats.primary_ms.append(primary_ms)
            raw = upstream_request(head, body)
            task = asyncio.get_running_loop().create_task(self._alone(stats, revision, raw, primary))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        batcher = self._batchers.get(revision)
        if batcher is None:
            batcher = self._batchers[revision] = Batcher(functools.partial(self._joined, revision),
                                                         max_batch_size=self.batch_rows, max_latency=self.hold,
                                                         hold=self.hold)
        batcher.put(member, rows=member.rows, then=functools.partial(self._count, stats, primary))

    async def _alone(self, stats: ShadowStats, revision: str, raw: bytes, primary: bytes) -> None:
        """One copy by itself: its latency is the shadow's side of the comparison."""
        started = time.perf_counter()
        try:
            answer = await self._exchange(revision, raw)
        except (NoCapacity, UpstreamGone, UpstreamTimeout, UpstreamBroken) as exc:
            self._count(stats, primary, exc)
            return
        stats.shadow_ms.append((time.perf_counter() - started) * 1000)
        self._count(stats, primary, _body(answer))

    async def _joined(self, revision: str, members: Sequence[Member]) -> list[Any]:
        """The batcher's batch: each group of members that join is one call; its answer, split, per member."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, member in enumerate(members):
            groups.setdefault(member.key, []).append(index)
        results: list[Any] = [None] * len(members)
        answered = await asyncio.gather(*(self._group(revision, [members[i] for i in indexes])
                                          for indexes in groups.values()))
        for indexes, answers in zip(groups.values(), answered, strict=True):
            for index, answer in zip(indexes, answers, strict=True):
                results[index] = answer
        return results

    async def _group(self, revision: str, members: list[Member]) -> list[Any]:
        head = members[0].key[0]
        body = coalesce.joined(members) if len(members) > 1 else members[0].body
        try:
            answer = await self._exchange(revision, upstream_request(head, body))
        except (NoCapacity, UpstreamGone, UpstreamTimeout, UpstreamBroken) as exc:
            return [exc] * len(members)
        parts = coalesce.split(members, answer.body) if answer.status == 200 else None
        if parts is not None:
            return list(parts)
        if len(members) == 1:
            return [_body(answer)]
        return [answer for one in await asyncio.gather(*(self._group(revision, [m]) for m in members))
                for answer in one]  # one member the shadow rejects fails alone

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

    def _count(self, stats: ShadowStats, primary: bytes, outcome: Any) -> None:
        """One copy's outcome: the shadow's answer body (parsed), or why there is none."""
        self.inflight -= 1
        self._changed = True
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
            for revision in [r for r in self._batchers if r not in self.balancer.pools]:
                del self._batchers[revision]  # queued copies still get their answers
            try:
                self.publish()
            except OSError:
                self._changed = True  # retried next period; routing goes on


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
