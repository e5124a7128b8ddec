"""A lean HTTP/1.1 reverse proxy on asyncio protocols and httptools.

Hand-written on purpose: this is the inference hot path, and a framework
proxy (Starlette + httpx) costs several times the CPU per request that the
model itself does. Measured with `make bench` against KServe's own server.
Each client connection is parsed with httptools; requests are forwarded over
pooled keep-alive upstream connections; responses are buffered (inference
payloads are small) and re-framed with a Content-Length.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from http import HTTPStatus

import httptools
import orjson

from neuroscale.gateway.routes import Route, RouteTable, model_name_from_path

_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer",
     b"upgrade", b"content-length", b"host"}
)
_PHRASES = {status.value: status.phrase.encode() for status in HTTPStatus}


@dataclass
class Request:
    method: bytes
    url: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool
    host: str


class UpstreamGone(Exception):
    """The upstream closed or refused the connection before answering."""


class _Upstream(asyncio.Protocol):
    """One keep-alive connection to a model server."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes, bool]] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(UpstreamGone(str(exc or "connection closed")))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(UpstreamGone(f"bad response: {exc}"))
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            keep = self.parser.should_keep_alive()
            self.waiter.set_result((self.parser.get_status_code(), self.headers, b"".join(self.body), keep))

    def send(self, payload: bytes) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes, bool]]:
        assert self.transport is not None
        self.headers, self.body = [], []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Idle keep-alive connections per upstream address."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Upstream]] = collections.defaultdict(list)

    async def acquire(self, address: tuple[str, int]) -> tuple[_Upstream, bool]:
        idle = self._idle[address]
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection, True
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(_Upstream, address[0], address[1])
        except OSError as exc:
            raise UpstreamGone(str(exc)) from None
        return protocol, False

    def release(self, address: tuple[str, int], connection: _Upstream) -> None:
        if not connection.closed:
            self._idle[address].append(connection)

    def retain_only(self, live: set[tuple[str, int]]) -> None:
        """Close pooled connections to upstreams that no longer serve any route."""
        for address in list(self._idle):
            if address not in live:
                for connection in self._idle.pop(address):
                    connection.close()


def json_response(status: int, body: dict[str, object], *, keep_alive: bool) -> bytes:
    payload = orjson.dumps(body)
    return _frame(status, [(b"content-type", b"application/json")], payload, keep_alive=keep_alive)


def _frame(status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, keep_alive: bool) -> bytes:
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, _PHRASES.get(status, b"Unknown"))]
    for name, value in headers:
        if name.lower() not in _HOP_BY_HOP:
            parts.append(name + b": " + value + b"\r\n")
    parts.append(b"content-length: %d\r\n" % len(body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


def _upstream_request(request: Request) -> bytes:
    parts = [request.method, b" ", request.url, b" HTTP/1.1\r\nhost: ", request.host.encode(), b"\r\n"]
    for name, value in request.headers:
        if name.lower() not in _HOP_BY_HOP:
            parts.append(name + b": " + value + b"\r\n")
    parts.append(b"content-length: %d\r\n\r\n" % len(request.body))
    parts.append(request.body)
    return b"".join(parts)


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


class ClientConnection(asyncio.Protocol):
    """One client connection: parse requests, forward them in order, write answers."""

    def __init__(self, router: Router, pool: UpstreamPool, *, max_body: int) -> None:
        self.router = router
        self.pool = pool
        self.max_body = max_body
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: collections.deque[Request] = collections.deque()
        self.busy = False
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.host = ""
        self.too_large = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")

    def _fail(self, status: int, message: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(json_response(status, {"error": message, "reason": "BadRequest"}, keep_alive=False))
            self.transport.close()

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if name.lower() == b"host":
            self.host = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.max_body:
            self.too_large = True
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        request = Request(
            method=self.parser.get_method(),
            url=self.url,
            headers=self.headers,
            body=b"".join(self.body),
            keep_alive=self.parser.should_keep_alive() and not self.too_large,
            host=self.host,
        )
        if self.too_large:
            self._reply(json_response(413, {
                "error": f"request body is {self.body_size} bytes; the limit is {self.max_body}",
                "reason": "PayloadTooLarge", "fix": "send fewer instances per request"}, keep_alive=False), False)
            return
        self.pending.append(request)
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self.pending:
            request = self.pending.popleft()
            payload = await self._forward(request)
            self._reply(payload, request.keep_alive)
        self.busy = False

    async def _forward(self, request: Request) -> bytes:
        decision = self.router.resolve(request)
        if not isinstance(decision, Route):
            error_status, error_body = decision
            return json_response(error_status, error_body, keep_alive=request.keep_alive)
        address = decision.upstream
        assert address is not None
        raw = _upstream_request(request)
        # A pooled connection may have been closed by a restarted server: retry once on a fresh one.
        for attempt in range(2):
            try:
                connection, reused = await self.pool.acquire(address)
            except UpstreamGone as exc:
                return self._unreachable(decision, exc, request.keep_alive)
            try:
                status, headers, payload, upstream_keep = await connection.send(raw)
            except UpstreamGone as exc:
                connection.close()
                if reused and attempt == 0:
                    continue
                return self._unreachable(decision, exc, request.keep_alive)
            if upstream_keep:
                self.pool.release(address, connection)
            else:
                connection.close()
            return _frame(status, headers, payload, keep_alive=request.keep_alive)
        return self._unreachable(decision, UpstreamGone("retry exhausted"), request.keep_alive)

    @staticmethod
    def _unreachable(route: Route, exc: Exception, keep_alive: bool) -> bytes:
        return json_response(503, {
            "error": f"model '{route.name}' revision {route.revision} is not reachable: {exc}",
            "reason": "UpstreamUnavailable",
            "fix": "the reconciler restarts failed revisions; see `neuroscale status` and `neuroscale events`",
        }, keep_alive=keep_alive)

    def _reply(self, payload: bytes, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(payload)
        if not keep_alive:
            self.transport.close()
