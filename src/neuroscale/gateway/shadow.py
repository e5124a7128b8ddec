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
shadow revision as predict calls of at most `batch_rows` rows, each answer
compared with every copy's primary answer. Serving every copy alone cost the
shadow model server half the primary's CPU and the gateway 25-40 % more per
request (bench/RESULTS.md, issue 15). Copies stay as the gateway framed them
until their batch goes (`take` keeps runs of records, `shadow_frames`); then
KServe V1 copies are joined and compared in C (`_shadowjoin`: in Python that
was 8-11 µs of CPU per copy, the largest part of shadowing's cost), and every
copy it leaves — other protocols, shapes it does not read, answers it cannot
decide — goes through `coalesce` in Python, as before. A joined call that fails
with an answer (one member the shadow rejects, an answer that does not split)
is asked again copy by copy, so only the rejected copies count as errors; a
call that gets no answer at all (shadow down, hanging) is an error for each
member. Latency stays comparable: at most one
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

from neuroscale.agreement import ABSOLUTE, RELATIVE, agree, latency_quantiles
from neuroscale.gateway import _shadowjoin, coalesce, shadow_frames
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


# One copy, read: its endpoint's stats, upstream head and body, the primary's answer body and latency (ms).
Copy = tuple[ShadowStats, bytes, bytes, bytes, float]


@dataclass(slots=True)
class Run:
    """Consecutive copies of one endpoint and request head, still as the gateway framed them: `data[start:stop]`."""

    stats: ShadowStats
    head: bytes
    data: bytes
    start: int
    stop: int
    copies: int

    def read(self) -> list[Copy]:
        found, at = [], self.start
        while at < self.stop:
            copy, at = self.copy_at(at)
            found.append(copy)
        return found

    def copy_at(self, at: int) -> tuple[Copy, int]:
        """The copy whose record starts at `at`, read, and where the next record starts."""
        body, primary, primary_ms, after = shadow_frames.copy_at(self.data, at)
        return (self.stats, self.head, body, primary, primary_ms), after


class Mirror:
    # Calls of up to 2,048 rows (and coalesce.MAX_CALL_BYTES), gathered for up to 0.2 s: against 512 rows and
    # 0.1 s, the worker's CPU per copy went 3.4 -> 2.4 µs and the shadow model server's 3.5 -> 2.3 (bench/RESULTS.md,
    # issue 15). `max_inflight` holds what 0.2 s brings at ~10k requests/s with room for the calls still running.
    def __init__(self, balancer: Balancer, pool: UpstreamPool, *, max_inflight: int = 8192, timeout: float = 30.0,
                 batch_rows: int = 2048, hold: float = 0.2, lone_period: float = 0.25) -> None:
        self.balancer = balancer
        self.pool = pool
        self.max_inflight = max_inflight
        self.timeout = timeout
        self.batch_rows = batch_rows
        self.hold = hold
        self.lone_period = lone_period
        self.inflight = 0
        self.stats: dict[str, ShadowStats] = {}  # per endpoint: the comparison with its shadow revision now
        self._earlier: dict[str, ShadowStats] = {}  # per endpoint: the one with the revision it shadowed before
        self._waiting: dict[str, list[Run]] = {}  # per shadow revision: copies waiting for mates
        self._waiting_copies: collections.Counter[str] = collections.Counter()
        self._release_at: dict[str, asyncio.Handle] = {}  # per shadow revision: when its waiting copies go
        self._changed = False
        self._tasks: set[asyncio.Task[None]] = set()

    def take(self, data: bytes) -> int:
        """The gateway's records at the front of `data` (`shadow_frames`): copies wait for their batch unread,
        tallies are counted. Returns the bytes they took (a record cut in two waits for the rest)."""
        found, used = _shadowjoin.runs(data)
        for kind, endpoint, revision, head, start, stop, count in found:
            if kind == shadow_frames.COPY:
                self._hold(revision, Run(self._stats(endpoint, revision), head, data, start, stop, count))
            else:
                self.skipped(endpoint, revision, count)
        return used

    def _hold(self, revision: str, run: Run) -> None:
        """Copies for the next batch of their revision, but the ones past `max_inflight` (skipped) and one per
        `lone_period`, which goes alone."""
        room = max(self.max_inflight - self.inflight, 0)
        if run.copies > room:
            run.stats.outcomes["skipped"] += run.copies - room
            run.copies = room
            run.stop = run.start
            for _ in range(room):
                run.stop = run.copy_at(run.stop)[1]
        if not run.copies:
            return
        self.inflight += run.copies
        if time.monotonic() - run.stats.lone_at >= self.lone_period:
            lone, run.start = run.copy_at(run.start)
            run.copies -= 1
            self._lone(revision, lone)
            if not run.copies:
                return
        waiting = self._waiting.get(revision)
        if waiting is None:
            waiting = self._waiting[revision] = []
            self._release_at[revision] = asyncio.get_running_loop().call_later(self.hold, self._release, revision)
        waiting.append(run)
        self._waiting_copies[revision] += run.copies
        if self._waiting_copies[revision] >= self.batch_rows:  # a full call's rows (at least) wait: release them
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
        """The endpoint's comparison with `revision`. A new shadow target starts from nothing, so its agreement
        is its own; the one it replaced is kept aside, so a copy framed before the switch still counts for it."""
        stats = self.stats.get(endpoint)
        if stats is None or stats.revision != revision:
            earlier = self._earlier.pop(endpoint, None)
            if stats is not None:
                self._earlier[endpoint] = stats
            stats = self.stats[endpoint] = earlier if earlier and earlier.revision == revision \
                else ShadowStats(revision)
        self._changed = True
        return stats

    def _release(self, revision: str) -> None:
        """The waiting copies, in one pass: V1 copies of one endpoint and head joined in C, and the rest read
        and joined by `coalesce`; those that cannot join are sent alone."""
        del self._release_at[revision]
        del self._waiting_copies[revision]
        groups: dict[tuple[int, bytes], list[Run]] = {}
        for run in self._waiting.pop(revision):
            groups.setdefault((id(run.stats), run.head), []).append(run)
        loose: list[Copy] = []
        for (_, head), runs in groups.items():
            first = runs[0]
            if len(runs) > 1:
                data = b"".join(run.data[run.start:run.stop] for run in runs)
                first = Run(first.stats, head, data, 0, len(data), sum(run.copies for run in runs))
            if coalesce.protocol(head) is not coalesce.V1:
                loose += first.read()
                continue
            calls, others = _shadowjoin.plan_v1(first.data, first.start, first.stop, self.batch_rows,
                                                coalesce.MAX_MEMBER_BYTES, coalesce.MAX_CALL_BYTES)
            for call in calls:
                self._start(self._joined_v1(revision, first, call))
            loose += [first.copy_at(at)[0] for at in others]
        if not loose:
            return
        calls_of_python, alone = coalesce.plan([c[1] for c in loose], [c[2] for c in loose],
                                               max_rows=self.batch_rows)
        for index in alone:
            self._lone(revision, loose[index])
        for call_of_python in calls_of_python:
            self._start(self._joined(revision, call_of_python, [loose[i] for i in call_of_python.copies]))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lone(self, revision: str, copy: Copy) -> None:
        """Send a copy alone and time it: the primary's and the shadow's latency on the same request."""
        copy[0].lone_at = time.monotonic()
        self._start(self._alone(revision, copy, timed=True))

    async def _alone(self, revision: str, copy: Copy, *, timed: bool) -> None:
        started = time.perf_counter()
        try:
            answer = await self._exchange(revision, upstream_request(copy[1], copy[2]))
        except _NO_ANSWER as exc:
            self._count(copy, exc)
            return
        if timed:  # a pair: a copy the shadow never answered times neither side
            copy[0].primary_ms.append(copy[4])
            copy[0].shadow_ms.append((time.perf_counter() - started) * 1000)
        self._count(copy, _body(answer))

    async def _joined(self, revision: str, call: coalesce.Call, copies: list[Copy]) -> None:
        """One call for `copies`; its answer compared with all their primary answers at once."""
        try:
            body = call.body()
        except orjson.JSONEncodeError:  # rows nested past what orjson writes: each copy goes as it came
            await asyncio.gather(*(self._alone(revision, copy, timed=False) for copy in copies))
            return
        try:
            answer = await self._exchange(revision, upstream_request(call.head, body))
        except _NO_ANSWER as exc:
            for copy in copies:
                self._failed(copy[0], exc, 1)
            return
        agreed = coalesce.compare(call, answer.body, [c[3] for c in copies]) if answer.status == 200 else None
        if agreed is not None:
            self.inflight -= len(copies)
            self._changed = True
            for copy, alike in zip(copies, agreed, strict=True):
                copy[0].outcomes["agree" if alike else "disagree"] += 1
        elif len(copies) == 1:
            self._count(copies[0], _body(answer))
        else:  # one copy the shadow rejects fails alone
            await asyncio.gather(*(self._alone(revision, copy, timed=False) for copy in copies))

    async def _joined_v1(self, revision: str, run: Run, call: tuple[bytes, int, int, int, int]) -> None:
        """One call for the V1 copies `_shadowjoin.plan_v1` joined (the records `run.data[first:stop]`)."""
        rows_joined, first, stop, rows, members = call
        body = b'{"instances":[' + rows_joined + b"]}"
        try:
            answer = await self._exchange(revision, upstream_request(run.head, body))
        except _NO_ANSWER as exc:
            self._failed(run.stats, exc, members)
            return
        verdicts = _split_v1(answer, run.data, first, stop, rows) if answer.status == 200 else None
        if verdicts is None:  # one copy the shadow rejects fails alone
            copies = [run.copy_at(at)[0] for at in _shadowjoin.members_v1(run.data, first, stop,
                                                                           coalesce.MAX_MEMBER_BYTES)]
            if members == 1:
                self._count(copies[0], _body(answer))
            else:
                await asyncio.gather(*(self._alone(revision, copy, timed=False) for copy in copies))
            return
        self.inflight -= members
        self._changed = True
        run.stats.outcomes["agree"] += verdicts[0]
        run.stats.outcomes["disagree"] += verdicts[1]

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

    def _failed(self, stats: ShadowStats, why: BaseException, copies: int) -> None:
        """Copies without a shadow answer: skipped when no replica was free, else errors."""
        self.inflight -= copies
        self._changed = True
        stats.outcomes["skipped" if isinstance(why, NoCapacity) else "error"] += copies

    def _count(self, copy: Copy, outcome: Any) -> None:
        """One copy's outcome: the shadow's answer body (parsed), or why there is none."""
        stats, primary = copy[0], copy[3]
        if isinstance(outcome, BaseException):
            self._failed(stats, outcome, 1)
            return
        self.inflight -= 1
        self._changed = True
        if type(outcome) is dict and "predictions" in outcome and coalesce.written(outcome) == primary:
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


def _split_v1(answer: Answer, data: bytes, first: int, stop: int, rows: int) -> tuple[int, int] | None:
    """How many of a V1 call's copies (`data[first:stop]`) agree and disagree with their primary answers, or None
    when the answer does not split (not JSON, not one prediction per joined row)."""
    try:
        doc = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return None
    predictions = doc.get("predictions") if type(doc) is dict else None
    if type(predictions) is not list or len(predictions) != rows:
        return None
    written = coalesce.written(predictions)
    if written is None:  # nested past what orjson writes: asked again copy by copy
        return None
    found = _shadowjoin.compare_v1(data, first, stop, coalesce.MAX_MEMBER_BYTES, written, rows, RELATIVE, ABSOLUTE)
    if found is None:
        return None
    agreed, disagreed, undecided = found
    for at, row, count in undecided:  # what C leaves (objects, escaped strings, long integers): Python's rules
        try:
            primary = orjson.loads(shadow_frames.copy_at(data, at)[1])
            alike = agree(primary, {"predictions": predictions[row:row + count]})
        except orjson.JSONDecodeError:
            alike = False
        agreed, disagreed = agreed + alike, disagreed + (not alike)
    return agreed, disagreed


def _body(answer: Answer) -> Any:
    """A shadow answer as compared: the parsed 200 body (a non-JSON one as is: it never agrees), or a refusal."""
    if answer.status != 200:
        return _Refused(answer.status)
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return answer.body  # a 200 that is not JSON: compared (and never agrees), as before
