"""Forwarding: each parsed request goes to a replica of one of its endpoint's revisions, or gets a JSON error.

The client side (parsing, limits, order) lives in `http1`, the model-server side in `upstream`,
the choice of revision and replica (and waiting for one) in `balancer`; this module only decides:
is the Host one we serve, which route serves the request (`Router`), and what the client hears
when no replica comes up in time (503), the upstream is down (503), slow (504) or broken (502).
It also answers the Open Inference Protocol's server-level paths (`/v2`, `/v2/health/live`,
`/v2/health/ready`) for the gateway as a whole, as a multi-model server does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from neuroscale.gateway.balancer import Balancer, NoCapacity, RevisionPool
from neuroscale.gateway.hosts import HostGuard
from neuroscale.gateway.http1 import Request, frame, json_response
from neuroscale.gateway.routes import Route, RouteTable, model_name_from_path
from neuroscale.gateway.upstream import (UpstreamBroken, UpstreamGone, UpstreamPool, UpstreamTimeout,
                                         upstream_request)


SERVER_VERSION = "2"  # the Open Inference Protocol version the gateway speaks


@dataclass(frozen=True)
class HoldLimits:
    """How long and how many requests wait for a replica (scale from zero, replicas at their limit)."""

    seconds: float = 30.0
    max_waiting: int = 256


class Router:
    """Decides, per request, which route serves it, or which JSON error answers it."""

    def __init__(self, table_source: Callable[[], RouteTable]) -> None:
        self.table_source = table_source

    def resolve(self, request: Request) -> Route | tuple[int, dict[str, object]]:
        table = self.table_source()
        route = table.for_host(request.host)
        path = request.url.split(b"?", 1)[0].decode("latin-1")
        if route is None:
            name = model_name_from_path(path)
            if name is None:
                server = _server_level(path, table)
                if server is not None:
                    return server
                return 404, {
                    "error": f"no endpoint serves {path}",
                    "reason": "RouteNotFound",
                    "fix": "call /v1/models/<name>:predict or /v2/models/<name>/infer, "
                    f"or send Host: <name>.<namespace>.{table.domain}",
                }
            route = table.by_name.get(name)
            if route is None:
                return 404, {
                    "error": f"model '{name}' not found",
                    "reason": "ModelNotFound",
                    "fix": "list endpoints with `neuroscale status`; a new endpoint serves once its PR is merged",
                }
        if not route.ready or not route.revisions:
            return 503, {
                "error": f"model '{route.name}' is not ready: {route.message or 'no ready revision yet'}",
                "reason": route.reason or "NotReady",
                "endpoint": route.name,
            }
        return route


def _server_level(path: str, table: RouteTable) -> tuple[int, dict[str, object]] | None:
    """The gateway's own Open Inference Protocol answers (server metadata, liveness, readiness)."""
    if path == "/v2":
        return 200, {"name": "neuroscale", "version": SERVER_VERSION, "extensions": []}
    if path in ("/v2/health/live", "/healthz"):
        return 200, {"live": True, "endpoints": len(table.by_name)}
    if path == "/v2/health/ready":
        ready = bool(table.updated)  # a routes table is loaded: requests for ready models are served
        return (200 if ready else 503), {"ready": ready}
    return None


class Proxy:
    """The request handler `http1.ClientConnection` calls, once per request, in order."""

    def __init__(self, router: Router, pool: UpstreamPool, *, hosts: HostGuard, upstream_timeout_s: float,
                 balancer: Balancer, hold: HoldLimits, on_wait: Callable[[], None]) -> None:
        self.router = router
        self.pool = pool
        self.hosts = hosts
        self.upstream_timeout_s = upstream_timeout_s
        self.balancer = balancer
        self.hold = hold
        self.on_wait = on_wait

    async def __call__(self, request: Request) -> bytes:
        keep_alive, head_only = request.keep_alive, request.head_only
        if not self.hosts.admits(request.host, self.router.table_source().by_host):
            return json_response(421, self.hosts.refusal(request.host), keep_alive=keep_alive, head_only=head_only)
        decision = self.router.resolve(request)
        if not isinstance(decision, Route):
            status, body = decision
            return json_response(status, body, keep_alive=keep_alive, head_only=head_only)
        revisions = self.balancer.choose(decision.name)
        if revisions is None:
            return json_response(503, {"error": f"model '{decision.name}' has no revision with a share of traffic",
                                       "reason": decision.reason or "NotReady", "endpoint": decision.name},
                                 keep_alive=keep_alive, head_only=head_only)
        raw = upstream_request(method=request.method, url=request.url, host=request.host.encode("latin-1"),
                               headers=request.headers, body=request.body)
        revisions.arrive()
        try:
            return await self._forward(request, decision, revisions, raw)
        finally:
            revisions.leave()

    async def _forward(self, request: Request, route: Route, revisions: RevisionPool, raw: bytes) -> bytes:
        keep_alive, head_only = request.keep_alive, request.head_only
        revision = revisions.name
        try:
            replica = await revisions.acquire(max_waiting=self.hold.max_waiting,
                                              wait=min(self.hold.seconds, route.timeout), on_wait=self.on_wait)
        except NoCapacity as exc:
            why = f" ({route.message})" if route.message else ""
            return self._failed(503, route, revision, f"has no replica for this request: {exc.message}{why}",
                                request, reason=exc.reason,
                                fix="retry shortly; `neuroscale status` shows the replicas and why none is ready")
        try:
            answer = await self.pool.exchange(replica.address, raw, head_only=head_only,
                                              timeout=min(route.timeout, self.upstream_timeout_s))
        except UpstreamGone as exc:
            return self._failed(503, route, revision, f"is not reachable: {exc}", request,
                                reason="UpstreamUnavailable",
                                fix="the reconciler restarts failed revisions; see `neuroscale status` and "
                                    "`neuroscale events`")
        except UpstreamTimeout as exc:
            return self._failed(504, route, revision, f"did not answer in time: {exc}", request,
                                reason="UpstreamTimeout",
                                fix="send fewer instances per request, or raise the InferenceService's timeout "
                                    "(the gateway's --upstream-timeout caps it); `neuroscale status` shows whether "
                                    "the revision is stuck")
        except UpstreamBroken as exc:
            return self._failed(502, route, revision, f"sent a broken answer: {exc}", request, reason="BadGateway",
                                fix="see the model server's log (`neuroscale events`); this is a server fault")
        finally:
            revisions.release(replica)
        length = None
        if head_only:
            length = next((int(v) for k, v in answer.headers if k.lower() == b"content-length" and v.isdigit()), 0)
        return frame(answer.status, answer.headers, answer.body, keep_alive=keep_alive, head_only=head_only,
                     length=length)

    @staticmethod
    def _failed(status: int, route: Route, revision: str, what: str, request: Request, *, reason: str,
                fix: str) -> bytes:
        return json_response(status, {
            "error": f"model '{route.name}' revision {revision} {what}",
            "reason": reason,
            "endpoint": route.name,
            "fix": fix,
        }, keep_alive=request.keep_alive, head_only=request.head_only)
