"""The shadow worker: the process that sends the gateway's copies to shadow revisions and compares the answers.

`python -m neuroscale.gateway.shadow_worker --routes FILE [--shadow-file FILE] [--resume]`, started (and
restarted) by the gateway (`shadow_feed`), which writes copies to its stdin (`shadow_frames`). Reading,
joining, sending and comparing copies (`shadow.Mirror`) cost the gateway's event loop as much as the
primary's own forwarding: measured at +16 µs per request and 1-12 ms stalls each time 512 copies were
released (bench/RESULTS.md, issue 15). Here that work delays no client.

The worker reads the routes file itself and keeps replicas of shadow revisions only. Four times a second it
reports to the gateway, one JSON line on stdout, its comparison (`shadow.ShadowStats.to_dict` per endpoint,
which the gateway's metrics show) and its demand on each shadow revision (`requests`, `busy`, which the
gateway adds to its own so the autoscaler keeps the revision up); once a second it publishes the comparison
to `run/shadow.json` for status and the portal. It exits when its stdin closes (a gateway gone, however it
went, leaves no worker behind) or on SIGTERM, after at most `DRAIN_S` for the copies in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any, cast

import orjson

from neuroscale.atomic_file import replace_file
from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.routes import RouteTable, RouteWatcher
from neuroscale.gateway.shadow import Mirror
from neuroscale.gateway.upstream import UpstreamPool
from neuroscale.home import DEFAULT_DOMAIN

REPORT_PERIOD_S = 0.25
PUBLISH_EVERY = 4  # reports
RELOAD_INTERVAL_S = 0.1  # a new shadow revision is copied to within this; the gateway reloads every 0.02 s
READ_PAUSE_S = 0.05
BUSY_READ_BYTES = 32 << 10  # a read this long may have left more: read on at once
DRAIN_S = 1.0


def shadowed(table: RouteTable) -> list[tuple[str, tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...], int]]:
    """The table as the worker's balancer takes it: per shadowed endpoint, its shadow revision alone."""
    return [(route.name, tuple((r.revision, 100, r.upstreams) for r in route.revisions
                               if r.revision == route.shadow[0]), route.concurrency)
            for route in table.by_name.values() if route.shadow is not None]


class Intake(asyncio.Protocol):
    """Reads the gateway's records from the pipe and hands each to the mirror; EOF ends the worker.

    After a short read it stops reading for `READ_PAUSE_S`: the records gather in the pipe meanwhile (copies
    wait `Mirror.hold` for mates anyway; at 10k copies/s a pause holds ~200 KiB, the pipe takes 1 MiB), so the
    worker reads at most 20 times a second, not once per gateway loop iteration, and the gateway's writes wake
    nobody. Measured in-process at ~10k copies/s, before copies were joined in C: 8-8.5 µs of the worker's CPU
    per copy with a 20 ms pause, against 9.5-11.5 with 5 ms; with the C join, 50 ms and 2,048-row calls
    took the worker from 3.4 to 2.4 µs per copy (bench/RESULTS.md, issue 15)."""

    def __init__(self, mirror: Mirror, done: asyncio.Event) -> None:
        self.mirror = mirror
        self.done = done
        self.rest = b""  # a record the last read cut in two
        self.transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.ReadTransport, transport)  # uvloop's pipe transports do not subclass it

    def data_received(self, data: bytes) -> None:
        if self.transport is not None and len(data) < BUSY_READ_BYTES:  # a short read: the pipe is drained
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(READ_PAUSE_S, self._resume)
        data = self.rest + data if self.rest else data
        self.rest = data[self.mirror.take(data):]

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        self.done.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.done.set()


class Reporter:
    """What the gateway hears (stdout) and what status reads (the shadow file), off any request path."""

    def __init__(self, mirror: Mirror, balancer: Balancer, *, path: Path | None) -> None:
        self.mirror = mirror
        self.balancer = balancer
        self.path = path
        self.last: dict[str, Any] = {}
        self.unpublished: dict[str, Any] | None = None

    def report(self) -> None:
        summary = self.mirror.summary()
        if summary is not None:
            self.unpublished = summary
        demand = {name: [stats["requests"], stats["busy"]] for name, stats in self.balancer.stats().items()}
        now = {"shadow": summary if summary is not None else self.last.get("shadow", {}), "demand": demand}
        if now != self.last:
            self.last = now
            try:
                sys.stdout.buffer.write(orjson.dumps(now) + b"\n")
                sys.stdout.buffer.flush()
            except OSError:
                pass  # the gateway is gone: stdin closes too, and that ends the worker

    async def publish(self) -> None:
        summary, self.unpublished = self.unpublished, None
        if summary is None or self.path is None:
            return
        try:
            await asyncio.to_thread(replace_file, self.path, json.dumps(summary))
        except OSError:
            self.unpublished = self.unpublished or summary  # retried next time; comparing goes on

    async def run(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(REPORT_PERIOD_S)
            self.report()
            tick += 1
            if tick % PUBLISH_EVERY == 0:
                await self.publish()


def _resumed(path: Path | None) -> dict[str, Any]:
    """The comparison the previous worker published, to go on from (nothing when absent or unreadable)."""
    try:
        found = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


async def work(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    watcher = RouteWatcher(args.routes, default_domain=DEFAULT_DOMAIN)
    watcher.refresh()
    balancer = Balancer(loop.time)
    balancer.sync(shadowed(watcher.table))
    pool = UpstreamPool()
    mirror = Mirror(balancer, pool, timeout=args.timeout)
    if args.resume:
        mirror.resume(_resumed(args.shadow_file))
    reporter = Reporter(mirror, balancer, path=args.shadow_file)
    done = asyncio.Event()
    await loop.connect_read_pipe(lambda: Intake(mirror, done), sys.stdin.buffer)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, done.set)
    reporting = loop.create_task(reporter.run())

    async def reload_routes() -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL_S)
            if watcher.refresh():
                balancer.sync(shadowed(watcher.table))
                pool.retain_only(balancer.addresses)

    reloading = loop.create_task(reload_routes())
    await done.wait()
    reloading.cancel()
    reporting.cancel()
    drained = loop.time() + DRAIN_S
    while mirror.inflight and loop.time() < drained:  # copies already sent get their outcome, briefly
        await asyncio.sleep(0.01)
    reporter.report()
    await reporter.publish()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neuroscale-shadow-worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=Path, required=True)
    parser.add_argument("--shadow-file", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a shadow revision has to answer")
    parser.add_argument("--resume", action="store_true", help="go on from the counts in --shadow-file")
    import uvloop

    uvloop.run(work(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
