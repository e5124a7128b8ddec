"""Revision split, least-outstanding replicas, bounded waiting and demand counters (asyncio, no network)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from neuroscale.gateway.balancer import Balancer, NoCapacity, RevisionPool, Split

A, B, C = ("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("shares", "expected"), [
    ((("new", 20), ("old", 80)), {"new": 2000, "old": 8000}),
    ((("new", 1), ("old", 99)), {"new": 100, "old": 9900}),
    ((("new", 0), ("old", 100)), {"old": 10000}),
    ((("only", 100),), {"only": 10000}),
])
def test_split_is_exact_over_every_hundred_requests(shares: tuple[tuple[str, int], ...],
                                                    expected: dict[str, int]) -> None:
    split = Split(shares)
    picks = [split.pick() for _ in range(10_000)]
    assert Counter(picks) == expected
    assert Counter(picks[:100]) == {name: count // 100 for name, count in expected.items()}


def test_split_interleaves_instead_of_bursting() -> None:
    split = Split((("new", 50), ("old", 50)))
    assert [split.pick() for _ in range(4)] == ["new", "old", "new", "old"]


def test_least_outstanding_replica_and_the_concurrency_cap() -> None:
    async def scenario() -> None:
        pool = RevisionPool("r1", Clock())
        pool.update([A, B], concurrency=2)
        got = [await pool.acquire(max_waiting=5, wait=0.05, on_wait=lambda: None) for _ in range(4)]
        assert sorted(r.address for r in got) == [A, A, B, B]
        with pytest.raises(NoCapacity) as caught:
            await pool.acquire(max_waiting=5, wait=0.05, on_wait=lambda: None)
        assert caught.value.reason == "NoReplicaAvailable" and "concurrency limit" in caught.value.message
        pool.release(got[0])
        assert (await pool.acquire(max_waiting=5, wait=0.05, on_wait=lambda: None)).address == got[0].address

    asyncio.run(scenario())


def test_a_waiting_request_is_released_when_a_replica_appears() -> None:
    async def scenario() -> None:
        pool = RevisionPool("r1", Clock())
        woken: list[str] = []
        waiting = asyncio.create_task(pool.acquire(max_waiting=5, wait=5.0, on_wait=lambda: woken.append("w")))
        await asyncio.sleep(0.01)
        assert pool.waiting == 1 and woken == ["w"]
        pool.update([C], concurrency=0)
        replica = await asyncio.wait_for(waiting, 1.0)
        assert replica.address == C and pool.waiting == 0

    asyncio.run(scenario())


def test_waiting_is_bounded_in_count_and_time() -> None:
    async def scenario() -> None:
        pool = RevisionPool("r1", Clock())
        first = asyncio.create_task(pool.acquire(max_waiting=1, wait=0.2, on_wait=lambda: None))
        await asyncio.sleep(0.01)
        with pytest.raises(NoCapacity) as crowded:
            await pool.acquire(max_waiting=1, wait=0.2, on_wait=lambda: None)
        assert crowded.value.reason == "TooManyWaiting"
        with pytest.raises(NoCapacity) as late:
            await first
        assert late.value.reason == "NoReplicaAvailable" and "no replica started" in late.value.message

    asyncio.run(scenario())


def test_demand_counts_arrivals_and_busy_time_including_waiting() -> None:
    clock = Clock()
    balancer = Balancer(clock)
    balancer.sync([("iris", (("r1", 100, (A,)),), 0)])
    pool = balancer.choose("iris")
    assert pool is not None
    pool.arrive()
    pool.arrive()
    clock.now = 2.0
    pool.leave()
    clock.now = 3.0
    assert balancer.stats()["r1"] == {"requests": 2, "busy": 5.0, "active": 1, "waiting": 0}


def test_sync_drops_idle_revisions_and_keeps_busy_ones() -> None:
    clock = Clock()
    balancer = Balancer(clock)
    balancer.sync([("iris", (("r1", 100, (A,)),), 0)])
    busy = balancer.pool("r1")
    busy.arrive()
    balancer.sync([("iris", (("r2", 100, (B,)),), 0)])
    assert set(balancer.pools) == {"r1", "r2"} and busy.replicas == {}
    busy.leave()
    balancer.sync([("iris", (("r2", 100, (B,)),), 0)])
    assert set(balancer.pools) == {"r2"} and balancer.addresses == {B}
