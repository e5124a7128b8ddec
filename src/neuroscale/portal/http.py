"""HTTP plumbing shared by the API and the pages: JSON bodies, the body limit, error mapping.

One place turns every `NeuroScaleError` into a response (its `http_status` and
`to_dict()`), so routes only raise. API paths get JSON; page paths get an HTML
error page with the same message and fix.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neuroscale.errors import InvalidInput, NeuroScaleError, PayloadTooLarge
from neuroscale.jsonable import as_plain

log = logging.getLogger("neuroscale.portal")

_HTTP_REASONS = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


class MalformedBody(InvalidInput):
    """The body is not the JSON object the route expects."""

    reason = "MalformedJSON"
    http_status = 400


class FastJSON(JSONResponse):
    """JSON responses rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        raise MalformedBody("the request body is empty", fix="send a JSON object such as {\"name\": ...}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"malformed JSON: {exc}", where="request body",
                            fix="send valid JSON (check quotes, commas and brackets)") from None
    if not isinstance(data, dict):
        raise MalformedBody(f"expected a JSON object, got {type(data).__name__}", where="request body",
                            fix="wrap the fields in an object: {\"name\": ..., \"owner\": ...}")
    return data


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/allocation")) or path == "/api" or path == "/healthz"


def error_response(request: Request, *, status: int, body: dict[str, Any]) -> Response:
    if wants_json(request):
        return FastJSON(body, status_code=status)
    templates = request.app.state.templates
    page: Response = templates.TemplateResponse(request, "error.html", {"status": status, "error": body},
                                                status_code=status)
    return page


async def on_neuroscale_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NeuroScaleError)
    if exc.http_status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(request, status=exc.http_status, body=as_plain(exc.to_dict()))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = _HTTP_REASONS.get(exc.status_code, "HTTPError")
    message = exc.detail
    if exc.status_code == 404:
        message = f"nothing at {request.method} {request.url.path}"
    body: dict[str, Any] = {"error": message, "reason": reason}
    if exc.status_code == 404:
        body["fix"] = "see GET /api/fields, /api/endpoints, /api/pulls, /api/events"
    response = error_response(request, status=exc.status_code, body=body)
    response.headers.update(exc.headers or {})  # e.g. `Allow` on 405, which RFC 9110 requires
    return response


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """A bug, not a client mistake: log it, answer 500 without a traceback."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return FastJSON({"error": "internal error; see the portal log", "reason": "InternalError"}, status_code=500)


Handler = Callable[[Request], Awaitable[Response]]


def method_routes(entries: Iterable[tuple[str, str, Handler]]) -> list[BaseRoute]:
    """One Starlette route per path for (path, method, handler) entries.

    One route per path rather than per method, so a 405 names every method the path takes in
    `Allow` (RFC 9110), not only those of the first route that matched the path.
    """
    by_path: dict[str, dict[str, Handler]] = {}
    for path, method, handler in entries:
        by_path.setdefault(path, {})[method] = handler

    def dispatch(handlers: dict[str, Handler]) -> Handler:
        async def by_method(request: Request) -> Response:
            return await handlers["GET" if request.method == "HEAD" else request.method](request)

        by_method.__name__ = "_or_".join(handler.__name__ for handler in handlers.values())
        return by_method

    return [Route(path, dispatch(handlers), methods=list(handlers)) for path, handlers in by_path.items()]


class BodyLimit:
    """Refuse request bodies above `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await FastJSON(self._too_large(int(declared)).to_dict(), status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise self._too_large(seen)
            return message

        await self.app(scope, limited, send)

    def _too_large(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body of {size} bytes or more exceeds the limit of {self.max_bytes} bytes",
                               where="request body", fix="send only the endpoint fields")
