"""Run the gateway: `python -m neuroscale.gateway --home HOME [--port 8080]`.

The gateway only reads the routing table the reconciler writes (and the API
keys and admin tokens the identity store writes), so it keeps serving while the
portal or the reconciler is down. What it writes for the engine is its demand
and admins' model load/unload orders (`repository`), never a decision.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from neuroscale import httplimits
from neuroscale.atomic_file import replace_file
from neuroscale.gateway.admins import AdminRing
from neuroscale.gateway.api_keys import KeyRing
from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.demand import DemandPublisher
from neuroscale.gateway.recorder import Recorder
from neuroscale.gateway.repository import Repository
from neuroscale.gateway.hosts import HostGuard
from neuroscale.gateway.http1 import ClientConnection
from neuroscale.gateway.proxy import HoldLimits, Proxy, Router
from neuroscale.gateway.routes import RouteTable, RouteWatcher
from neuroscale.gateway.shadow_feed import DEFAULT_BACKLOG, ShadowFeed
from neuroscale.gateway.upstream import UpstreamPool
from neuroscale.home import DEFAULT_DOMAIN, DEFAULT_GATEWAY_PORT, DEFAULT_HOST, Home

RELOAD_INTERVAL_S = 0.02
DEFAULT_UPSTREAM_TIMEOUT_S = 60.0


def acknowledge(settings: GatewaySettings, updated: str) -> None:
    """Tell the reconciler which routes are live, so IngressReady means traffic really flows."""
    replace_file(settings.applied_file, json.dumps({"updated": updated, "pid": os.getpid(), "port": settings.port}))


@dataclass(frozen=True)
class GatewaySettings:
    routes_file: Path
    applied_file: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_GATEWAY_PORT
    domain: str = DEFAULT_DOMAIN
    limits: httplimits.HttpLimits = field(default_factory=httplimits.HttpLimits)
    upstream_timeout_s: float = DEFAULT_UPSTREAM_TIMEOUT_S
    allowed_hosts: tuple[str, ...] = ()
    grpc_port: int = 0  # the Open Inference Protocol over gRPC (see grpc_proxy); 0: off
    stats_file: Path | None = None  # demand for the autoscaler; None: not published
    hold: HoldLimits = field(default_factory=HoldLimits)
    samples_dir: Path | None = None  # recorded requests of endpoints that opt in; None: not kept
    shadow_file: Path | None = None  # shadow-traffic comparison per endpoint; None: not published
    shadow_backlog: int = DEFAULT_BACKLOG  # bytes of copies that may wait for the shadow worker; more are skipped
    keys_file: Path | None = None  # API keys of endpoints that require them; None: such endpoints refuse all
    admins_file: Path | None = None  # admins' tokens (model repository load/unload); None: nobody is an admin
    orders_dir: Path | None = None  # where admins' load/unload orders go to the engine; None: none are taken


def balanced(table: RouteTable) -> list[tuple[str, tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...], int]]:
    """The table as the balancer takes it: per endpoint its revisions, shares and replicas."""
    return [(route.name, tuple((r.revision, r.percent, r.upstreams) for r in route.revisions), route.concurrency)
            for route in table.by_name.values()]


async def serve(settings: GatewaySettings) -> None:
    loop = asyncio.get_running_loop()
    watcher = RouteWatcher(settings.routes_file, default_domain=settings.domain)
    watcher.refresh()
    keys = KeyRing(settings.keys_file)
    keys.refresh()
    admins = AdminRing(settings.admins_file)
    admins.refresh()
    pool = UpstreamPool()
    balancer = Balancer(loop.time)
    balancer.sync(balanced(watcher.table))
    demand = DemandPublisher(settings.stats_file, balancer) if settings.stats_file else None
    recorder = Recorder(settings.samples_dir) if settings.samples_dir else None
    mirror = ShadowFeed(balancer, routes=settings.routes_file, shadow_file=settings.shadow_file,
                        timeout=settings.upstream_timeout_s, backlog=settings.shadow_backlog)
    proxy = Proxy(Router(lambda: watcher.table), pool,
                  hosts=HostGuard(allowed=settings.allowed_hosts, bind_host=settings.host),
                  upstream_timeout_s=settings.upstream_timeout_s, balancer=balancer, hold=settings.hold,
                  on_wait=demand.poke if demand else lambda: None, recorder=recorder, mirror=mirror, keys=keys,
                  repository=Repository(lambda: watcher.table, admins=admins, orders=settings.orders_dir,
                                        wait_s=settings.hold.seconds))
    server = await loop.create_server(
        lambda: ClientConnection(proxy, settings.limits),
        settings.host, settings.port, reuse_address=True, backlog=1024,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def reload_routes() -> None:
        while True:
            keys.refresh()  # before the routes: a route that starts asking for keys finds them loaded
            admins.refresh()
            if watcher.refresh():
                balancer.sync(balanced(watcher.table))
                pool.retain_only(balancer.addresses)
                acknowledge(settings, watcher.table.updated)
            await asyncio.sleep(RELOAD_INTERVAL_S)

    reloader = loop.create_task(reload_routes())
    mirror.start()
    background = []
    if demand is not None:
        background.append(loop.create_task(demand.run()))
    if recorder is not None:
        background.append(loop.create_task(recorder.run()))
    grpc_listener = None
    if settings.grpc_port:
        from neuroscale.gateway import grpc_proxy

        grpc_listener = await grpc_proxy.start(settings.routes_file, keys=keys, host=settings.host,
                                               port=settings.grpc_port,
                                               max_message_bytes=settings.limits.max_body_bytes)
    acknowledge(settings, watcher.table.updated)
    grpc_note = f" and grpc://{settings.host}:{settings.grpc_port}" if grpc_listener is not None else ""
    print(f"gateway listening on http://{settings.host}:{settings.port}{grpc_note}", flush=True)
    await stop.wait()
    await mirror.stop()
    reloader.cancel()
    for task in background:
        task.cancel()
    if recorder is not None:
        recorder.flush()  # what was recorded since the last period is kept
    if grpc_listener is not None:
        await grpc_listener.stop(1.0)
    server.close()
    await server.wait_closed()


def parse_args(argv: list[str] | None) -> GatewaySettings:
    parser = argparse.ArgumentParser(prog="neuroscale-gateway", description=__doc__)
    parser.add_argument("--home", default=None)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_GATEWAY_PORT)
    parser.add_argument("--domain", default=DEFAULT_DOMAIN)
    parser.add_argument("--upstream-timeout", type=httplimits.positive_seconds, default=DEFAULT_UPSTREAM_TIMEOUT_S,
                        help="seconds a model server has to answer before the client gets 504")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="another Host name to answer besides loopback and the endpoints' names")
    parser.add_argument("--grpc-port", type=int, default=None,
                        help="Open Inference Protocol gRPC port (default: the HTTP port + 1; 0: off)")
    parser.add_argument("--hold-timeout", type=httplimits.positive_seconds, default=HoldLimits.seconds,
                        help="seconds a request may wait for a replica (scale from zero, replicas at their "
                             "containerConcurrency) before a 503")
    parser.add_argument("--max-waiting", type=int, default=HoldLimits.max_waiting,
                        help="requests that may wait per revision; more get a 503 at once")
    parser.add_argument("--shadow-backlog", type=int, default=DEFAULT_BACKLOG, metavar="BYTES",
                        help="bytes of shadow copies that may wait for the shadow worker; beyond, copies are skipped")
    httplimits.add_arguments(parser)
    args = parser.parse_args(argv)
    home = Home.resolve(args.home)
    return GatewaySettings(routes_file=home.routes_file, applied_file=home.routes_applied_file,
                           host=args.host, port=args.port, domain=args.domain,
                           limits=httplimits.from_arguments(args), upstream_timeout_s=args.upstream_timeout,
                           allowed_hosts=tuple(args.allowed_host), stats_file=home.gateway_stats_file,
                           samples_dir=home.samples_dir, shadow_file=home.shadow_file,
                           keys_file=home.api_keys_file, admins_file=home.admin_tokens_file,
                           orders_dir=home.model_orders_dir, shadow_backlog=max(args.shadow_backlog, 0),
                           hold=HoldLimits(seconds=args.hold_timeout, max_waiting=max(args.max_waiting, 0)),
                           grpc_port=args.port + 1 if args.grpc_port is None else args.grpc_port)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        import uvloop

        uvloop.run(serve(settings))
    except OSError as exc:
        print(f"AddressInUse: cannot listen on {settings.host}:{settings.port}: {exc.strerror}; "
              "stop the other process or choose another port", file=sys.stderr)
        return 1
    return 0
