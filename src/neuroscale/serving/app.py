"""The HTTP surface: a hand-written ASGI app routing exact paths to the V1/V2 adapters.

Hand-written rather than Starlette/FastAPI because this is the measured hot path (the platform's
throughput number): one dict lookup per request, handlers pre-bound to the one model, no
middleware, no per-request logging. Paths are read as the gateway reads them (`requestpath`: percent-decoded
per segment, as KServe decodes them, without letting an encoded '/' split a model name). Every `NeuroScaleError` becomes its JSON body and status in
`error_response` - the one mapping; anything else is logged and answered 500 without a traceback.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from time import perf_counter
from typing import Any

from neuroscale.bodycoding import decoded_body
from neuroscale.errors import NeuroScaleError, NotFound, PayloadTooLarge
from neuroscale.requestpath import PERCENT, BadPath, request_path
from neuroscale.serving import v1, v2
from neuroscale.serving.codec import dumps, load_object
from neuroscale.serving.model import Plane
from neuroscale.serving.metrics import CONTENT_TYPE as METRICS_TYPE
from neuroscale.serving.metrics import Recorder, ServingMetrics
from neuroscale.serving.settings import ServingSettings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
JSON_TYPE = b"application/json"
BINARY_TYPE = b"application/octet-stream"


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes
    status: int = 200
    content_type: bytes = JSON_TYPE
    headers: Headers = field(default_factory=list)


Handler = Callable[[bytes, Headers], Awaitable[Reply]]


class MethodNotAllowed(NeuroScaleError):
    reason = "MethodNotAllowed"
    http_status = 405
    exit_code = 1


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    reads_body: bool = False
    record: Recorder | None = None


def error_response(exc: BaseException) -> tuple[int, bytes]:
    """The one mapping from an error to an HTTP status and JSON body."""
    if isinstance(exc, NeuroScaleError):
        return exc.http_status, dumps(exc.to_dict())
    traceback.print_exception(exc, file=sys.stderr)
    return 500, dumps({"error": "internal error in the model server (see its log)", "reason": "InternalError"})


def text_headers(headers: Headers) -> dict[str, str]:
    """Request headers as the str mapping custom model code receives (as KServe passes them)."""
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in headers}


class ServingApp:
    """ASGI app serving one model (`Plane`) over V1, V2, OpenAI-style extras and /metrics."""

    def __init__(self, *, plane: Plane, metrics: ServingMetrics, max_body_bytes: int,
                 extra_routes: Mapping[tuple[str, str], Handler] | None = None) -> None:
        self.plane = plane
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self._routes = self._build_routes()
        for key, handler in (extra_routes or {}).items():
            self._routes[key] = Route(handler, reads_body=key[0] == "POST", record=metrics.recorder("openai"))
        self._allowed: dict[str, list[str]] = {}
        for method, path in self._routes:
            self._allowed.setdefault(path, []).extend(("GET", "HEAD") if method == "GET" else (method,))

    def _build_routes(self) -> dict[tuple[str, str], Route]:
        plane, name = self.plane, self.plane.name

        def constant(body: bytes) -> Handler:
            reply = Reply(body)

            async def handler(_body: bytes, _headers: Headers) -> Reply:
                return reply

            return handler

        def while_ready(body: bytes, unready: bytes) -> Handler:
            ready, not_ready = Reply(body), Reply(unready, status=503)

            async def handler(_body: bytes, _headers: Headers) -> Reply:
                return ready if plane.ready else not_ready

            return handler

        async def predict_v1(body: bytes, headers: Headers) -> Reply:
            return Reply(dumps(await plane.predict_v1(load_object(body), text_headers(headers))))

        async def infer_v2(body: bytes, headers: Headers) -> Reply:
            request = v2.decode_infer(body, header_length=v2.json_length(headers))
            answer, json_length = v2.encode_infer(await plane.infer(request, text_headers(headers)), request)
            if json_length is None:
                return Reply(answer)
            return Reply(answer, content_type=BINARY_TYPE,
                         headers=[(v2.HEADER_LENGTH, str(json_length).encode())])

        async def metrics(_body: bytes, _headers: Headers) -> Reply:
            return Reply(self.metrics.render(), content_type=METRICS_TYPE)

        metadata = constant(v2.encode_metadata(plane.metadata()))
        ready = while_ready(v2.encode_ready(name), v2.encode_ready(name, ready=False))
        v2_infer = Route(infer_v2, reads_body=True, record=self.metrics.recorder("v2"))
        routes = {
            ("GET", "/"): Route(constant(b'{"status":"alive"}')),
            ("GET", "/v1/models"): Route(constant(v1.encode_models([name]))),
            ("GET", f"/v1/models/{name}"): Route(while_ready(v1.encode_model(name), v1.encode_model(name, ready=False))),
            ("POST", f"/v1/models/{name}:predict"): Route(
                predict_v1, reads_body=True, record=self.metrics.recorder("v1")
            ),
            ("GET", "/v2"): Route(constant(v2.encode_server_metadata(version=own_version()))),
            ("GET", "/v2/health/live"): Route(constant(b'{"live":true}')),
            ("GET", "/v2/health/ready"): Route(while_ready(b'{"ready":true}', b'{"ready":false}')),
            ("GET", f"/v2/models/{name}"): Route(metadata),
            ("GET", f"/v2/models/{name}/ready"): Route(ready),
            ("POST", f"/v2/models/{name}/infer"): v2_infer,
            ("GET", "/metrics"): Route(metrics),
        }
        if plane.version:
            base = f"/v2/models/{name}/versions/{plane.version}"
            routes |= {("GET", base): Route(metadata), ("GET", f"{base}/ready"): Route(ready),
                       ("POST", f"{base}/infer"): v2_infer}
        return routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # uvicorn runs with lifespan and websockets off
            return
        method = scope["method"]
        route = self._lookup(method, scope)
        if isinstance(route, NeuroScaleError):
            status, body = error_response(route)
            reply = Reply(body, status=status)
            if isinstance(route, MethodNotAllowed):
                reply.headers.append((b"allow", ", ".join(self._allowed[route.where]).encode()))
        else:
            start = perf_counter()
            try:
                payload = await self._read_body(scope, receive) if route.reads_body else b""
                reply = await route.handler(payload, scope["headers"])
            except Exception as exc:  # mapped in one place: client mistakes are 4xx, never a traceback
                status, body = error_response(exc)
                reply = Reply(body, status=status)
                if isinstance(exc, PayloadTooLarge):  # the body was not read: this connection is done
                    reply.headers.append((b"connection", b"close"))
            if route.record is not None:
                route.record(reply.status, perf_counter() - start)
        await send({
            "type": "http.response.start",
            "status": reply.status,
            "headers": [*reply.headers, (b"content-type", reply.content_type),
                        (b"content-length", str(len(reply.body)).encode())],
        })
        await send({"type": "http.response.body", "body": reply.body})

    def _lookup(self, method: str, scope: Scope) -> Route | NeuroScaleError:
        """The route for this request, or the error that answers it."""
        path: str = scope["path"]
        raw: bytes = scope.get("raw_path") or b""  # optional in ASGI; uvicorn always sends it
        if PERCENT in raw:  # uvicorn decoded `path` across segments (a %2F split a name): decode per segment
            try:
                path = request_path(raw)
            except BadPath as exc:
                return exc
        # HEAD is GET without the body (uvicorn drops it), as Starlette - so KServe - answers it.
        route = self._routes.get(("GET" if method == "HEAD" else method, path))
        return self._no_route(method, path) if route is None else route

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        coding: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"content-length":  # one decimal number: llhttp refuses anything else
                if int(value) > limit:
                    raise self._too_large(int(value))
            elif key == b"content-encoding":
                coding = value if coding is None else coding + b"," + value
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._too_large(size)
            chunks.append(chunk)
            more = bool(message.get("more_body"))
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return body if coding is None else decoded_body(body, coding, max_bytes=limit)

    def _too_large(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body of {size} bytes is over the limit of {self.max_body_bytes} bytes",
            where="request body",
            fix="send fewer rows per request (the limit is the same in the gateway: --max-body-bytes)",
        )

    def _no_route(self, method: str, path: str) -> NeuroScaleError:
        allowed = self._allowed.get(path)
        if allowed:
            return MethodNotAllowed(
                f"{method} is not allowed on {path}", where=path, fix=f"use {' or '.join(allowed)}"
            )
        for prefix in ("/v1/models/", "/v2/models/"):
            if path.startswith(prefix):
                requested = path[len(prefix):].split("/", 1)[0].split(":", 1)[0]
                if requested != self.plane.name:
                    return NotFound(
                        f"model {requested!r} is not served here",
                        where=path,
                        fix=f"this server serves model {self.plane.name!r}",
                    )
        return NotFound(f"no route {path}", where=path, fix="see the KServe V1 / Open Inference Protocol V2 paths")


def own_version() -> str:
    try:
        return version("neuroscale")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(settings: ServingSettings) -> ServingApp:
    """Resolve and load the model, then build the app; raises `ModelLoadError` on any load failure."""
    from neuroscale.serving.formats import load_plane

    plane, extra_routes = load_plane(settings)
    return ServingApp(plane=plane, metrics=ServingMetrics(model=settings.model_name),
                      max_body_bytes=settings.max_body_bytes, extra_routes=extra_routes)
