"""Adaptive batching: concurrent requests to one model coalesced into one predict call.

Used by the model server (requests to its model). The gateway's shadow mirror batches its copies
itself (`gateway.shadow`): nobody waits on a copy, so it needs none of the futures kept here.

The InferenceService `batcher` (maxBatchSize, maxLatency) is honoured, with one difference from
KServe's batcher sidecar, which holds every batch until it is full or maxLatency has passed (so a
lone request always waits maxLatency). Here a batch goes out as soon as the model is free:

* requests that arrive while the model is idle are gathered for one turn of the event loop (all
  requests read in the same poll join), then predicted together;
* requests that arrive while a batch is predicting queue up and form the next batch;
* a batch holds at most `max_batch_size` rows (instances, as KServe counts them); one request
  larger than that still runs, alone;
* so no request is held back to fill a batch: under load it waits only for the batch in front
  of it. maxLatency (how long KServe may hold a request for batch-mates) is therefore an upper
  bound this policy always meets; p99 stays within it plus one batch's predict time while the
  model keeps up with the offered load.

Predicting runs on the event loop for models whose predict holds the GIL (scikit-learn's input
validation is Python code: in a thread it only contends for the GIL with request parsing, which
measured slower with a worse tail), and on one worker thread (`offload`) for models whose runtime
releases it (onnxruntime, torch), so request parsing goes on while a batch predicts.

Errors stay per request: `run_batch` returns one result or one exception per member.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from neuroscale.errors import NotReady

Item = TypeVar("Item")
Result = TypeVar("Result")
Results = list[Result | BaseException]


@dataclass(slots=True)
class _Pending(Generic[Item, Result]):
    item: Item
    rows: int
    future: asyncio.Future[Result]


class Batcher(Generic[Item, Result]):
    """Gathers `submit`ted items and runs them through `run_batch` in batches."""

    def __init__(self, run_batch: Callable[[Sequence[Item]], Results[Result]], *,
                 max_batch_size: int, max_latency: float, offload: bool = False) -> None:
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency
        self._queue: deque[_Pending[Item, Result]] = deque()
        self._scheduled: asyncio.Handle | None = None
        self._busy = False
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.offload = offload
        self._executor: ThreadPoolExecutor | None = None
        self.batches = 0  # counters for metrics and tests
        self.items = 0

    async def submit(self, item: Item, *, rows: int) -> Result:
        """Queue `item` (of `rows` rows) and wait for its own result."""
        return await self.enqueue(item, rows=rows)

    def enqueue(self, item: Item, *, rows: int) -> asyncio.Future[Result]:
        """Queue `item` (of `rows` rows); its result arrives in the future (no task needed to wait for it)."""
        if self._closing:
            raise NotReady("the model is unloading", fix="retry: the gateway routes to a serving replica")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue_up(_Pending(item, rows, future))
        return future

    def _queue_up(self, pending: _Pending[Item, Result]) -> None:
        self._queue.append(pending)
        self._idle.clear()
        if not self._busy:
            self._schedule(asyncio.get_running_loop())

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Dispatch on the next turn (once: every item queued until then joins)."""
        if self._scheduled is None:
            self._scheduled = loop.call_soon(self._dispatch)

    async def close(self) -> None:
        """Refuse new items and wait until every queued one has its answer."""
        self._closing = True
        await self._idle.wait()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def _take(self) -> list[_Pending[Item, Result]]:
        batch: list[_Pending[Item, Result]] = []
        rows = 0
        while self._queue:
            head = self._queue[0]
            if batch and rows + head.rows > self.max_batch_size:
                break
            batch.append(self._queue.popleft())
            rows += head.rows
        return [p for p in batch if not p.future.cancelled()]

    def _dispatch(self) -> None:
        self._scheduled = None
        if self._busy:
            return
        batch = self._take()
        if not batch:
            self._settle()
            return
        self.batches += 1
        self.items += len(batch)
        items = [p.item for p in batch]
        if not self.offload:
            self._deliver(batch, self._guarded(items))
            self._settle()
            return
        self._busy = True
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-predict")
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._guarded, items)
        future.add_done_callback(lambda done: self._finished(batch, done))

    def _guarded(self, items: list[Item]) -> Results[Result]:
        try:
            return self._run_batch(items)
        except BaseException as exc:  # run_batch keeps errors per member; this guards against its bugs
            return [exc] * len(items)

    def _finished(self, batch: list[_Pending[Item, Result]],
                  done: asyncio.Future[list[Result | BaseException]]) -> None:
        self._busy = False
        self._deliver(batch, done.result())
        self._settle()

    @staticmethod
    def _deliver(batch: list[_Pending[Item, Result]], results: list[Result | BaseException]) -> None:
        for pending, result in zip(batch, results, strict=True):
            if pending.future.cancelled():  # the client went away
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)

    def _settle(self) -> None:
        if self._queue:
            self._schedule(asyncio.get_running_loop())
        elif not self._busy:
            self._idle.set()
