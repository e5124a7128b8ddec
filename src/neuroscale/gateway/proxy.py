"""Forwarding: each parsed request goes to the current revision of its endpoint, or gets a JSON error.

The client side (parsing, limits, order) lives in `http1`, the model-server side in `upstream`;
this module only decides: is the Host one we serve, which route serves the request (`Router`),
and what the client hears when the upstream is down (503), slow (504) or broken (502).
"""

from __future__ import annotations

from collections.abc import Callable

from neuroscale.gateway.hosts import HostGuard
from neuroscale.gateway.http1 import Request, frame, json_response
from neuroscale.gateway.routes import Route, RouteTable, model_name_from_path
from neuroscale.gateway.upstream import (UpstreamBroken, UpstreamGone, UpstreamPool, UpstreamTimeout,
                                         upstream_request)


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
                if path in ("/healthz", "/v2/health/live"):
                    return 200, {"status": "ok", "endpoints": len(table.by_name)}
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
        if not route.ready or route.upstream is None:
            return 503, {
                "error": f"model '{route.name}' is not ready: {route.message or 'no ready revision yet'}",
                "reason": route.reason or "NotReady",
                "endpoint": route.name,
            }
        return route


class Proxy:
    """The request handler `http1.ClientConnection` calls, once per request, in order."""

    def __init__(self, router: Router, pool: UpstreamPool, *, hosts: HostGuard, upstream_timeout_s: float) -> None:
        self.router = router
        self.pool = pool
        self.hosts = hosts
        self.upstream_timeout_s = upstream_timeout_s

    async def __call__(self, request: Request) -> bytes:
        keep_alive, head_only = request.keep_alive, request.head_only
        if not self.hosts.admits(request.host, self.router.table_source().by_host):
            return json_response(421, self.hosts.refusal(request.host), keep_alive=keep_alive, head_only=head_only)
        decision = self.router.resolve(request)
        if not isinstance(decision, Route):
            status, body = decision
            return json_response(status, body, keep_alive=keep_alive, head_only=head_only)
        assert decision.upstream is not None
        raw = upstream_request(method=request.method, url=request.url, host=request.host.encode("latin-1"),
                               headers=request.headers, body=request.body)
        try:
            answer = await self.pool.exchange(decision.upstream, raw, head_only=head_only,
                                              timeout=self.upstream_timeout_s)
        except UpstreamGone as exc:
            return self._failed(503, decision, f"is not reachable: {exc}", request, reason="UpstreamUnavailable",
                                fix="the reconciler restarts failed revisions; see `neuroscale status` and "
                                    "`neuroscale events`")
        except UpstreamTimeout as exc:
            return self._failed(504, decision, f"did not answer in time: {exc}", request, reason="UpstreamTimeout",
                                fix="send fewer instances per request, or start the gateway with a longer "
                                    "--upstream-timeout; `neuroscale status` shows whether the revision is stuck")
        except UpstreamBroken as exc:
            return self._failed(502, decision, f"sent a broken answer: {exc}", request, reason="BadGateway",
                                fix="see the model server's log (`neuroscale events`); this is a server fault")
        length = None
        if head_only:
            length = next((int(v) for k, v in answer.headers if k.lower() == b"content-length" and v.isdigit()), 0)
        return frame(answer.status, answer.headers, answer.body, keep_alive=keep_alive, head_only=head_only,
                     length=length)

    @staticmethod
    def _failed(status: int, route: Route, what: str, request: Request, *, reason: str, fix: str) -> bytes:
        return json_response(status, {
            "error": f"model '{route.name}' revision {route.revision} {what}",
            "reason": reason,
            "endpoint": route.name,
            "fix": fix,
        }, keep_alive=request.keep_alive, head_only=request.head_only)
