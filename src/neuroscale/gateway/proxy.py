"""Forwarding: each parsed request goes to a replica of one of its endpoint's revisions, or gets a JSON error.

The client side (parsing, limits, order) lives in `http1`, the model-server side in `upstream`,
the choice of revision and replica (and waiting for one) in `balancer`; this module only decides:
is the Host one we serve, which route serves the request (`Router`), and what the client hears
when no replica comes up in time (503), the upstream is down (503), slow (504) or broken (502).
Paths are read by `requestpath`, as the model server reads them: percent-decoded per segment, as KServe
decodes them, and refused (400) when an encoded '/' or dot segment could name another model or path.
It also answers the Open Inference Protocol's server-level paths (`/v2`, `/v2/health/live`,
`/v2/health/ready`, the model repository extension in `repository`) and KServe V1's liveness (`/`)
for the gateway as a whole, as a multi-model server does, and `/metrics`
(Prometheus) to clients on this machine only: the series name every endpoint and its traffic,
which a caller of one model has no business reading. A route that requires API keys refuses a
request without one of its keys (401, see `api_keys`) before anything is forwarded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from neuroscale.gateway.repository import PREFIX as REPOSITORY_PREFIX, Repository
from neuroscale.gateway.api_keys import KeyRing, admitted_headers, unauthorized
from neuroscale.gateway.balancer import Balancer, NoCapacity, RevisionPool
from neuroscale.gateway.hosts import HostGuard
from neuroscale.gateway.recorder import Recorder, sent_by_a_page
from neuroscale.gateway.http1 import Request, frame, json_response
from neuroscale.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from neuroscale.gateway.routes import Route, RouteTable, model_name_from_path
from neuroscale.gateway.shadow_feed import ShadowFeed
from neuroscale.requestpath import BadPath, request_path
from neuroscale.gateway.upstream import (Answer, UpstreamBroken, UpstreamGone, UpstreamPool, UpstreamTimeout,
                                         upstream_head, upstream_request)


SERVER_VERSION = "2"  # the Open Inference Protocol version the gateway speaks
METRICS_PATHS = (b"/metrics", b"/metrics/")


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
        try:
            path = request_path(request.url)
        except BadPath as exc:
            return exc.http_status, exc.to_dict()
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
    if path == "/":  # KServe's V1 liveness (its client's `is_server_live`), answered as KServe's server does
        return 200, {"status": "alive"}
    if path in ("/v2/health/live", "/healthz"):
        return 200, {"live": True, "endpoints": len(table.by_name)}
    if path == "/v2/health/ready":
        ready = bool(table.updated)  # a routes table is loaded: requests for ready models are served
        return (200 if ready else 503), {"ready": ready}
    return None


class Proxy:
    """The request handler `http1.ClientConnection` calls, once per request, in order."""

    def __init__(self, router: Router, pool: UpstreamPool, *, hosts: HostGuard, upstream_timeout_s: float,
                 balancer: Balancer, hold: HoldLimits, on_wait: Callable[[], None], recorder: Recorder | None,
                 mirror: ShadowFeed, keys: KeyRing, repository: Repository) -> None:
        self.router = router
        self.repository = repository
        self.keys = keys
        self.pool = pool
        self.hosts = hosts
        self.upstream_timeout_s = upstream_timeout_s
        self.balancer = balancer
        self.hold = hold
        self.on_wait = on_wait
        self.recorder = recorder
        self.mirror = mirror
        self.metrics = GatewayMetrics(balancer, mirror.stats)

    async def __call__(self, request: Request) -> bytes:
        keep_alive, head_only = request.keep_alive, request.head_only
        if not self.hosts.admits(request.host, self.router.table_source().by_host):
            self.metrics.refused(421)
            return json_response(421, self.hosts.refusal(request.host), keep_alive=keep_alive, head_only=head_only)
        if request.url in METRICS_PATHS:
            return self._metrics(request)
        if request.url.startswith(REPOSITORY_PREFIX):
            return await self.repository.answer(request)
        decision = self.router.resolve(request)
        if not isinstance(decision, Route):
            status, body = decision
            self.metrics.refused(status)
            return json_response(status, body, keep_alive=keep_alive, head_only=head_only)
        headers = request.headers
        if decision.auth:  # the one test a route without keys pays
            admitted = admitted_headers(self.keys, decision.auth, headers)
            if admitted is None:
                self.metrics.refused(401)
                return unauthorized(decision.name, keep_alive=keep_alive, head_only=head_only)
            headers = admitted
        revisions = self.balancer.choose(decision.name)
        if revisions is None:
            self.metrics.refused(503)
            return json_response(503, {"error": f"model '{decision.name}' has no revision with a share of traffic",
                                       "reason": decision.reason or "NotReady", "endpoint": decision.name},
                                 keep_alive=keep_alive, head_only=head_only)
        started = time.perf_counter()
        counts = self.metrics.counts(decision.name, revisions.name)
        if not revisions.replicas:
            counts.cold_starts += 1
        head = upstream_head(method=request.method, url=request.url, host=request.host.encode("latin-1"),
                             headers=headers)
        raw = upstream_request(head, request.body)
        revisions.arrive()
        try:
            status, framed, answer = await self._forward(request, decision, revisions, raw)
        finally:
            revisions.leave()
        took = time.perf_counter() - started
        self.metrics.observe(counts, status, took)
        if answer is not None and answer.status == 200 and request.method == b"POST":
            self._after(decision, revisions.name, request, head, answer, took * 1000)
        return framed

    def _after(self, route: Route, revision: str, request: Request, head: bytes, answer: Answer,
               took_ms: float) -> None:
        """An answered inference request: keep it as a sample (unless a web page sent it: `recorder`), and copy it
        to the shadow revision when due."""
        if route.record is not None and self.recorder is not None and not sent_by_a_page(request.headers):
            self.recorder.keep(route.name, request.body, max_requests=route.record[0], max_bytes=route.record[1],
                               retention_s=route.record[2])
        shadow = route.shadow
        if shadow is not None and shadow[0] != revision and self.mirror.due(route.name, shadow[1]):
            self.mirror.send(route.name, shadow[0], head, request.body, answer.body, took_ms)


    def _metrics(self, request: Request) -> bytes:
        keep_alive, head_only = request.keep_alive, request.head_only
        if not request.local:
            self.metrics.refused(403)
            return json_response(403, {"error": "/metrics is served to clients on this machine only",
                                       "reason": "MetricsNotExposed",
                                       "fix": "scrape from the gateway's machine (a local Prometheus or agent "
                                              "that forwards with remote_write)"},
                                 keep_alive=keep_alive, head_only=head_only)
        if request.method not in (b"GET", b"HEAD"):
            return frame(405, [(b"allow", b"GET, HEAD"), (b"content-type", b"application/json")],
                         b'{"error":"/metrics answers GET","reason":"MethodNotAllowed"}',
                         keep_alive=keep_alive, head_only=head_only)
        self.metrics.forget_gone()
        return frame(200, [(b"content-type", CONTENT_TYPE)], self.metrics.render(), keep_alive=keep_alive,
                     head_only=head_only)

    async def _forward(self, request: Request, route: Route, revisions: RevisionPool,
                       raw: bytes) -> tuple[int, bytes, Answer | None]:
        """The status, bytes and (when a replica answered) the answer of one forwarded request."""
        keep_alive, head_only = request.keep_alive, request.head_only
        revision = revisions.name
        try:
            replica = await revisions.acquire(max_waiting=self.hold.max_waiting,
                                              wait=min(self.hold.seconds, route.timeout), on_wait=self.on_wait)
        except NoCapacity as exc:
            why = f" ({route.message})" if route.message else ""
            return *self._failed(503, route, revision, f"has no replica for this request: {exc.message}{why}",
                                request, reason=exc.reason,
                                fix="retry shortly; `neuroscale status` shows the replicas and why none is ready"), None
        try:
            answer = await self.pool.exchange(replica.address, raw, head_only=head_only,
                                              timeout=min(route.timeout, self.upstream_timeout_s))
        except UpstreamGone as exc:
            return *self._failed(503, route, revision, f"is not reachable: {exc}", request,
                                reason="UpstreamUnavailable",
                                fix="the reconciler restarts failed revisions; see `neuroscale status` and "
                                    "`neuroscale events`"), None
        except UpstreamTimeout as exc:
            return *self._failed(504, route, revision, f"did not answer in time: {exc}", request,
                                reason="UpstreamTimeout",
                                fix="send fewer instances per request, or raise the InferenceService's timeout "
                                    "(the gateway's --upstream-timeout caps it); `neuroscale status` shows whether "
                                    "the revision is stuck"), None
        except UpstreamBroken as exc:
            return *self._failed(502, route, revision, f"sent a broken answer: {exc}", request, reason="BadGateway",
                                fix="see the model server's log (`neuroscale events`); this is a server fault"), None
        finally:
            revisions.release(replica)
        length = None
        if head_only:
            length = next((int(v) for k, v in answer.headers if k.lower() == b"content-length" and v.isdigit()), 0)
        return answer.status, frame(answer.status, answer.headers, answer.body, keep_alive=keep_alive,
                                    head_only=head_only, length=length), answer

    @staticmethod
    def _failed(status: int, route: Route, revision: str, what: str, request: Request, *, reason: str,
                fix: str) -> tuple[int, bytes]:
        return status, json_response(status, {
            "error": f"model '{route.name}' revision {revision} {what}",
            "reason": reason,
            "endpoint": route.name,
            "fix": fix,
        }, keep_alive=request.keep_alive, head_only=request.head_only)
