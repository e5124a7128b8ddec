"""REST API routes: JSON in, one backend call, JSON out (camelCase)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from neuroscale.portal.form import field_definitions
from neuroscale.portal.http import FastJSON, read_json_object
from neuroscale.portal.params import backend, int_query, pull_number

MAX_EVENTS = 1000


def _pull_created(pull: dict[str, Any]) -> Response:
    return FastJSON(pull, status_code=201, headers={"Location": f"/api/pulls/{pull['number']}"})


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
    return FastJSON(await b.run(b.pull, pull_number(request)))


async def merge_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.merge, pull_number(request)))


async def close_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.close, pull_number(request)))


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
