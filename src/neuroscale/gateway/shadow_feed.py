"""The gateway's side of shadow traffic: which requests are copied, and handing each copy to the shadow worker.

The request path only frames the copy (`shadow_frames`) into a list; one write every `FLUSH_S` (sooner
once `FLUSH_BYTES` wait) sends the list down the worker's stdin, a pipe (up to 1 MiB in the kernel): the
worker reads every 50 ms anyway, and a write per loop iteration cost the gateway ~1.5 µs per copy. Nothing on the
request path reads a body, waits, or holds more than `backlog` bytes for the worker beyond the pipe: when
the worker is down (starting, restarting) or that many bytes already wait for it (it is behind, stopped,
starved), the copy is counted skipped here and the count handed over once the worker reads again, so its
published comparison includes it. Copies already in the pipe when a worker dies are lost with it, uncounted.

The feed starts the worker (`shadow_worker`), restarts it when it exits (after 0.2 s, doubling to 10 s
while it keeps dying young), and stops it with the gateway: SIGTERM, a grace, SIGKILL. It runs in the
gateway's process group, so the supervisor's stop of the gateway's group (`engine.runtime`) stops it too,
and a gateway killed outright closes the pipe, which ends the worker. The worker's reports (its counts,
which the gateway's metrics show, and its demand on shadow revisions, added to the gateway's own for the
autoscaler) come back on its stdout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from neuroscale.gateway import _shadowjoin, shadow_frames
from neuroscale.gateway.balancer import Balancer

log = logging.getLogger("neuroscale.gateway")
DEFAULT_BACKLOG = 4 << 20
MAX_PIPE_BYTES = 1 << 20
_STABLE_S = 30.0  # a worker that ran this long starts the backoff over
_REPORT_LIMIT = 1 << 24
FLUSH_S = 0.005
FLUSH_BYTES = 64 << 10


class ShadowFeed:
    def __init__(self, balancer: Balancer, *, routes: Path, shadow_file: Path | None, timeout: float,
                 backlog: int = DEFAULT_BACKLOG, restart: tuple[float, float] = (0.2, 10.0),
                 stop_grace: float = 3.0) -> None:
        self.balancer = balancer
        self.routes = routes
        self.shadow_file = shadow_file
        self.timeout = timeout
        self.backlog = backlog
        self.restart = restart
        self.stop_grace = stop_grace
        self.stats: dict[str, dict[str, Any]] = {}  # per endpoint, as the worker last reported
        self.process: asyncio.subprocess.Process | None = None
        self._credit: dict[str, int] = {}
        self._channel: asyncio.WriteTransport | None = None  # the running worker's stdin
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._flushing: asyncio.TimerHandle | None = None
        self._skipped: collections.Counter[tuple[str, str]] = collections.Counter()  # not yet handed over
        self._demand: dict[str, tuple[float, float]] = {}  # the running worker's last (requests, busy) per revision
        self._task: asyncio.Task[None] | None = None

    def due(self, endpoint: str, percent: int) -> bool:
        """Whether this request is one of the `percent` % copied (evenly spread, exact over 100 requests)."""
        credit = self._credit.get(endpoint, 0) + percent
        self._credit[endpoint] = credit % 100 if credit >= 100 else credit
        return credit >= 100

    def send(self, endpoint: str, revision: str, head: bytes, body: bytes, primary: bytes,
             primary_ms: float) -> None:
        """Hand a request (its upstream head and body), whose primary answer was `primary`, to the worker."""
        channel = self._channel
        if channel is None or self._pending_bytes + channel.get_write_buffer_size() > self.backlog:
            self._skipped[(endpoint, revision)] += 1
            return
        record = shadow_frames.copy_record(endpoint.encode(), revision.encode(), head, body, primary, primary_ms)
        self._pending.append(record)
        self._pending_bytes += len(record)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().call_later(FLUSH_S, self._flush)
        elif self._pending_bytes >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        """The copies framed since the last write (and skipped counts not yet told), in one write."""
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        channel = self._channel
        if channel is None or channel.is_closing():
            self._lost(pending)
            return
        for (endpoint, revision), count in self._skipped.items():
            pending.append(shadow_frames.tally_record(endpoint.encode(), revision.encode(), count))
        self._skipped.clear()
        if pending:
            channel.write(b"".join(pending))

    def _lost(self, records: list[bytes]) -> None:
        """Copies framed for a worker that is gone: skipped."""
        for _, endpoint, revision, _, _, _, count in _shadowjoin.runs(b"".join(records))[0]:
            self._skipped[(endpoint, revision)] += count  # a run's copies, or a tally's count

    def _heard(self, line: bytes) -> None:
        """One report of the worker: its comparison, and its demand since the last report added to ours."""
        try:
            report = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        self.stats.clear()  # in place: the metrics hold this dict
        self.stats.update(report.get("shadow") or {})
        for revision, (requests, busy) in (report.get("demand") or {}).items():
            seen_requests, seen_busy = self._demand.get(revision, (0, 0.0))
            self._demand[revision] = (requests, busy)
            pool = self.balancer.pools.get(revision)
            if pool is not None:
                pool.requests += requests - seen_requests
                pool.busy += busy - seen_busy

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        shortest, longest = self.restart
        delay, resume = shortest, False
        while True:
            started = loop.time()
            try:
                code = await self._run_worker(resume=resume)
            except OSError as exc:
                code = None
                log.warning("cannot start the shadow worker: %s", exc)
            delay = shortest if loop.time() - started > _STABLE_S else delay
            log.warning("the shadow worker exited (%s); restarting it in %.1f s, copies meanwhile are skipped",
                        code, delay)
            await asyncio.sleep(delay)
            delay, resume = min(delay * 2, longest), True

    async def _run_worker(self, *, resume: bool) -> int:
        argv = [sys.executable, "-m", "neuroscale.gateway.shadow_worker", "--routes", str(self.routes),
                "--timeout", str(self.timeout)]
        if self.shadow_file is not None:
            argv += ["--shadow-file", str(self.shadow_file)]
        read_end, write_end = os.pipe()  # a pipe, not uvloop's socket pair: a write costs less (~1 µs)
        try:
            process = self.process = await asyncio.create_subprocess_exec(
                *argv, *(["--resume"] if resume else []), stdin=read_end, stdout=asyncio.subprocess.PIPE,
                limit=_REPORT_LIMIT)
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        with contextlib.suppress(OSError):  # refused: copies are only skipped sooner
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, min(self.backlog, MAX_PIPE_BYTES))
        channel, _ = await asyncio.get_running_loop().connect_write_pipe(asyncio.Protocol,
                                                                           os.fdopen(write_end, "wb", buffering=0))
        assert process.stdout is not None
        self._channel, self._demand = channel, {}
        self._flush()  # the copies skipped while no worker ran, told at once
        try:
            while line := await process.stdout.readline():
                self._heard(line)
        finally:
            self._channel = None
            channel.close()
        return await process.wait()

    async def stop(self) -> None:
        """Stop restarting the worker, and stop it (SIGTERM: it publishes its last counts; SIGKILL after the grace)."""
        self._flush()  # the copies framed in the last FLUSH_S
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), self.stop_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

