"""REST API routes: JSON in, one backend call, JSON out (camelCase)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from neuroscale.errors import InvalidInput
from neuroscale.portal.backend import Backend
from neuroscale.portal.form import field_definitions
from neuroscale.portal.http import FastJSON, read_json_object

MAX_EVENTS = 1000


def backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


def _pull_created(pull: dict[str, Any]) -> Response:
    return FastJSON(pull, status_code=201, headers={"Location": f"/api/pulls/{pull['number']}"})


def int_query(request: Request, key: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{key}={raw!r} is not a whole number between {low} and {high}", where=key,
                           fix=f"pass ?{key}=<{low}..{high}>")
    return int(raw)


async def healthz(request: Request) -> Response:
    return FastJSON({"status": "ok"})


async def fields(request: Request) -> Response:
    return FastJSON(field_definitions())


async def create_endpoint(request: Request) -> Response:
    data = await read_json_object(request)
    b = backend(request)
    return _pull_created(await b.run(b.create, data))


async def update_endpoint(request: Request) -> Response:
    data = await read_json_object(request)
    b = backend(request)
    return _pull_created(await b.run(b.update, request.path_params["name"], data))


async def delete_endpoint(request: Request) -> Response:
    b = backend(request)
    return _pull_created(await b.run(b.delete, request.path_params["name"]))


async def list_endpoints(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.endpoints))


async def get_endpoint(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.endpoint, request.path_params["name"]))


async def list_pulls(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.pulls, request.query_params.get("state")))


async def get_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.pull, request.path_params["number"]))


async def merge_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.merge, request.path_params["number"]))


async def close_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.close, request.path_params["number"]))


async def list_events(request: Request) -> Response:
    b = backend(request)
    limit = int_query(request, "limit", default=100, low=1, high=MAX_EVENTS)
    return FastJSON(await b.run(b.events, endpoint=request.query_params.get("endpoint") or None, limit=limit))


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz),
        Route("/api/fields", fields),
        Route("/api/endpoints", list_endpoints, methods=["GET"]),
        Route("/api/endpoints", create_endpoint, methods=["POST"]),
        Route("/api/endpoints/{name}", get_endpoint, methods=["GET"]),
        Route("/api/endpoints/{name}", update_endpoint, methods=["PUT"]),
        Route("/api/endpoints/{name}", delete_endpoint, methods=["DELETE"]),
        Route("/api/pulls", list_pulls),
        Route("/api/pulls/{number:int}", get_pull),
        Route("/api/pulls/{number:int}/merge", merge_pull, methods=["POST"]),
        Route("/api/pulls/{number:int}/close", close_pull, methods=["POST"]),
        Route("/api/events", list_events),
    ]
