"""REST API routes: JSON in, one backend call, JSON out (camelCase).

Every route is one `Operation` in `OPERATIONS`; the Starlette routes and the
OpenAPI description (`GET /api/openapi.json`, see `openapi`) are both made
from that table, so the description cannot drift from what is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from neuroscale.portal.form import field_definitions
from neuroscale.portal import observe_pages
from neuroscale.portal.http import FastJSON, Handler, method_routes, read_json_object
from neuroscale.portal.params import actor, backend, int_query, pull_number

MAX_EVENTS = 1000


def _pull_created(pull: dict[str, Any]) -> Response:
    return FastJSON(pull, status_code=201, headers={"Location": f"/api/pulls/{pull['number']}"})


async def healthz(request: Request) -> Response:
    return FastJSON({"status": "ok"})


async def me(request: Request) -> Response:
    who = actor(request)
    return FastJSON({"name": who.name, "role": who.role.value})


async def fields(request: Request) -> Response:
    return FastJSON(field_definitions())


async def create_endpoint(request: Request) -> Response:
    data = await read_json_object(request)
    b = backend(request)
    return _pull_created(await b.run(b.create, data, actor=actor(request)))


async def update_endpoint(request: Request) -> Response:
    data = await read_json_object(request)
    b = backend(request)
    return _pull_created(await b.run(b.update, request.path_params["name"], data, actor=actor(request)))


async def delete_endpoint(request: Request) -> Response:
    b = backend(request)
    return _pull_created(await b.run(b.delete, request.path_params["name"], actor=actor(request)))


async def list_endpoints(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.endpoints))


async def get_endpoint(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.endpoint, request.path_params["name"]))


async def list_keys(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.keys, request.path_params["name"], actor=actor(request)))


async def create_key(request: Request) -> Response:
    data = await read_json_object(request)
    b = backend(request)
    return FastJSON(await b.run(b.create_key, request.path_params["name"], data, actor=actor(request)),
                    status_code=201)


async def revoke_key(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.revoke_key, request.path_params["name"], request.path_params["id"],
                                actor=actor(request)))


async def list_pulls(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.pulls, request.query_params.get("state")))


async def get_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.pull, pull_number(request), actor=actor(request)))


async def approve_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.approve, pull_number(request), actor=actor(request)))


async def merge_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.merge, pull_number(request), actor=actor(request)))


async def close_pull(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.close, pull_number(request), actor=actor(request)))


async def review_rules(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.rules))


async def list_events(request: Request) -> Response:
    b = backend(request)
    limit = int_query(request, "limit", default=100, low=1, high=MAX_EVENTS)
    return FastJSON(await b.run(b.events, endpoint=request.query_params.get("endpoint") or None, limit=limit))


async def openapi_description(request: Request) -> Response:
    from neuroscale.portal.openapi import describe

    return FastJSON(describe(OPERATIONS))


@dataclass(frozen=True)
class Operation:
    """One REST API route and what the OpenAPI description says about it."""

    method: str
    path: str  # Starlette syntax: /api/pulls/{number:int}
    handler: Handler
    summary: str
    returns: str  # "object" or "array"
    status: int = 200
    body: str = ""  # the schema of its JSON body (`openapi` components), if it takes one
    query: tuple[str, ...] = ()
    #: Client mistakes and refusals this route can answer, besides those every route can (401, 421).
    refusals: tuple[int, ...] = ()
    public: bool = False  # answered without a credential

    @property
    def changes(self) -> bool:
        return self.method not in ("GET", "HEAD")


_WRITE = (403, 409, 415, 422)

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/healthz", healthz, "Liveness: the portal answers", "object", public=True),
    Operation("GET", "/api/openapi.json", openapi_description, "This description", "object"),
    Operation("GET", "/api/me", me, "Who the credential belongs to, and their role", "object"),
    Operation("GET", "/api/fields", fields, "The endpoint fields, as the form and CLI use them", "array"),
    Operation("GET", "/api/endpoints", list_endpoints, "Endpoints on main or known to the reconciler", "array"),
    Operation("POST", "/api/endpoints", create_endpoint, "Propose a new endpoint (opens a pull request)", "object",
              status=201, body="EndpointSpec", refusals=(400, *_WRITE, 413)),
    Operation("GET", "/api/endpoints/{name}", get_endpoint, "One endpoint with its spec and status", "object",
              refusals=(404, 422)),
    Operation("PUT", "/api/endpoints/{name}", update_endpoint, "Propose a change (opens or updates a pull request)",
              "object", status=201, body="EndpointSpec", refusals=(400, 404, *_WRITE, 413)),
    Operation("DELETE", "/api/endpoints/{name}", delete_endpoint, "Propose removing the endpoint", "object",
              status=201, refusals=(404, *_WRITE)),
    Operation("GET", "/api/endpoints/{name}/keys", list_keys,
              "The endpoint's API keys: ids, descriptions, who made them (never the keys)", "array",
              refusals=(404, 422)),
    Operation("POST", "/api/endpoints/{name}/keys", create_key,
              "Create an API key for the gateway (the key is in the answer once, as `key`)", "object", status=201,
              body="ApiKeyRequest", refusals=(400, 404, *_WRITE, 413)),
    Operation("DELETE", "/api/endpoints/{name}/keys/{id}", revoke_key,
              "Revoke an API key: the gateway refuses it from its next reload", "object", refusals=(404, *_WRITE)),
    Operation("GET", "/api/pulls", list_pulls, "Pull requests, newest first", "array", query=("state",),
              refusals=(422,)),
    Operation("GET", "/api/pulls/{number:int}", get_pull, "One pull request: checks, review, changed files",
              "object", refusals=(404,)),
    Operation("POST", "/api/pulls/{number:int}/approve", approve_pull,
              "Approve the current head (approvers; not your own)", "object", refusals=(404, *_WRITE)),
    Operation("POST", "/api/pulls/{number:int}/merge", merge_pull,
              "Merge into main (refused while checks fail or approvals are missing)", "object",
              refusals=(404, *_WRITE)),
    Operation("POST", "/api/pulls/{number:int}/close", close_pull, "Close without merging", "object",
              refusals=(404, *_WRITE)),
    Operation("GET", "/api/review-rules", review_rules, "How many approvals a merge needs", "object"),
    Operation("GET", "/api/endpoints/{name}/detail", observe_pages.endpoint_detail,
              "One endpoint in full: conditions with history, revisions, how to call it, log tails", "object",
              refusals=(404, 422)),
    Operation("GET", "/api/endpoints/{name}/metrics", observe_pages.endpoint_series,
              "Request rate, error rate, latency percentiles, replicas, CPU and memory over a window", "array",
              query=("window",), refusals=(422,)),
    Operation("POST", "/api/endpoints/{name}/rollback", observe_pages.rollback,
              "Propose going back to the previous revision (opens a pull request)", "object", status=201,
              refusals=(404, *_WRITE)),
    Operation("GET", "/allocation/compute", observe_pages.allocation,
              "OpenCost's allocation API: measured cost by window, aggregate, step, accumulate, idle", "object",
              query=("window", "aggregate", "step", "accumulate", "includeIdle", "shareIdle"), refusals=(422,)),
    Operation("GET", "/api/events", list_events, "What happened and who did it (newest last)", "array",
              query=("endpoint", "limit"), refusals=(422,)),
)


def routes() -> list[BaseRoute]:
    return method_routes((op.path, op.method, op.handler) for op in OPERATIONS)
