"""Pages that observe: one endpoint (with charts, logs, rollback), cost showback, events with filters.

Charts are separate SVG images (`charts.py`) so a page renders without
waiting for them. The OpenCost-compatible allocation API lives here too,
at OpenCost's own path, so OpenCost clients need only the portal's URL.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from neuroscale.errors import Conflict, Forbidden, InvalidInput, NotFound
from neuroscale.portal import charts
from neuroscale.portal.http import FastJSON, method_routes
from neuroscale.portal.pages import render
from neuroscale.portal.params import actor, backend, int_query
from neuroscale.services.usage import CHART_WINDOWS, AllocationParams

#: Cost page aggregations offered as links (any other `aggregate` works by URL too).
COST_VIEWS = (("controller", "Endpoint"), ("label:owner", "Owner"), ("label:cost-center", "Cost center"),
              ("namespace", "Namespace"))
COST_WINDOWS = ("1h", "24h", "7d", "30d")
EVENTS_PER_PAGE = 50
SVG = "image/svg+xml"


def _window(request: Request) -> str:
    window = request.query_params.get("window") or "1h"
    if window not in CHART_WINDOWS:
        raise InvalidInput(f"unknown chart window {window!r}", where="window",
                           fix=f"choose one of {', '.join(CHART_WINDOWS)}")
    return window


async def _endpoint_page(request: Request, *, error: Conflict | Forbidden | NotFound | None = None) -> Response:
    b = backend(request)
    name = request.path_params["name"]
    detail = await b.run(b.detail, name)
    status = detail.get("status") or {}
    converging = not status or status.get("health") in ("Progressing", "Missing") and detail.get("onMain")
    context = {"detail": detail, "nav": "endpoints", "window": _window(request), "windows": list(CHART_WINDOWS),
               "charts": charts.ENDPOINT_CHARTS, "converging": converging,
               "error": error.to_dict() if error else None}
    return render(request, "endpoint.html", context, status=error.http_status if error else 200)


async def endpoint_page(request: Request) -> Response:
    return await _endpoint_page(request)


async def submit_rollback(request: Request) -> Response:
    b = backend(request)
    try:
        pull = await b.run(b.rollback, request.path_params["name"], actor=actor(request))
    except (Conflict, Forbidden, NotFound) as exc:
        return await _endpoint_page(request, error=exc)
    return RedirectResponse(f"/pulls/{pull['number']}", status_code=303)


async def endpoint_chart(request: Request) -> Response:
    b = backend(request)
    kind = request.path_params["kind"]
    if kind not in charts.ENDPOINT_CHARTS:
        raise NotFound(f"no chart named {kind!r}", where="chart", fix=f"use one of {', '.join(charts.ENDPOINT_CHARTS)}")
    window = _window(request)
    points = await b.run(b.series, request.path_params["name"], window)
    svg = charts.endpoint_chart(kind, points, span=CHART_WINDOWS[window])
    return Response(svg, media_type=SVG, headers={"Cache-Control": "private, max-age=10"})


async def endpoint_series(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.series, request.path_params["name"], _window(request)))


async def endpoint_detail(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.detail, request.path_params["name"]))


async def rollback(request: Request) -> Response:
    b = backend(request)
    return FastJSON(await b.run(b.rollback, request.path_params["name"], actor=actor(request)), status_code=201)


async def allocation(request: Request) -> Response:
    """OpenCost's `/allocation/compute`: same parameters, same response shape."""
    b = backend(request)
    return FastJSON(await b.run(b.allocation, AllocationParams.from_query(request.query_params)))


def _cost_params(request: Request, *, idle: bool) -> AllocationParams:
    query = request.query_params
    return AllocationParams(window=query.get("window") or "24h", aggregate=query.get("aggregate") or "controller",
                            accumulate="true", idle="false", share_idle="true" if idle else "false")


async def _cost_rows(request: Request) -> list[dict[str, Any]]:
    """Allocations over the window, costliest first, each with its idle cost (what it reserved and left unused)."""
    b = backend(request)
    used_view, reserved_view = await b.run(b.allocations, _cost_params(request, idle=False),
                                           _cost_params(request, idle=True))
    used, reserved = used_view["data"][0], reserved_view["data"][0]
    return [{**item, "idleCost": max(reserved.get(name, item)["totalCost"] - item["totalCost"], 0.0)}
            for name, item in sorted(used.items(), key=lambda pair: -pair[1]["totalCost"])]


async def cost_page(request: Request) -> Response:
    rows = await _cost_rows(request)
    params = _cost_params(request, idle=False)
    context = {"rows": rows, "window": params.window, "aggregate": params.aggregate, "views": COST_VIEWS,
               "windows": COST_WINDOWS, "nav": "cost", "currency": "USD",
               "total": sum(r["totalCost"] for r in rows), "idle": sum(r["idleCost"] for r in rows)}
    return render(request, "cost.html", context)


async def cost_chart(request: Request) -> Response:
    rows = [(row["name"], row["totalCost"], row["idleCost"]) for row in await _cost_rows(request)]
    return Response(charts.cost_chart(rows, currency="USD"), media_type=SVG,
                    headers={"Cache-Control": "private, max-age=10"})


def _event_filters(request: Request) -> dict[str, Any]:
    query = request.query_params
    kind = query.get("type") or None
    if kind not in (None, "Normal", "Warning"):
        raise InvalidInput(f"unknown event type {kind!r}", where="type", fix="use Normal or Warning")
    before = query.get("before")
    if before is not None and not before.isdigit():
        raise InvalidInput("before must be an event id (a whole number)", where="before",
                           fix="follow the page's “Older events” link")
    return {"endpoint": query.get("endpoint") or None, "kind": kind, "since": query.get("since") or None,
            "until": query.get("until") or None, "before": int(before) if before else None}


async def events_page(request: Request) -> Response:
    b = backend(request)
    filters = _event_filters(request)
    limit = int_query(request, "limit", default=EVENTS_PER_PAGE, low=1, high=500)
    page = await b.run(b.event_page, **filters, limit=limit)
    endpoints = [e["name"] for e in await b.run(b.endpoints)]
    context = {"events": page["events"], "before": page["before"], "filters": filters, "endpoints": endpoints,
               "endpoint": filters["endpoint"], "nav": "events", "limit": limit}
    return render(request, "events.html", context)


def page_routes() -> list[BaseRoute]:
    return method_routes([
        ("/endpoints/{name}", "GET", endpoint_page),
        ("/endpoints/{name}/rollback", "POST", submit_rollback),
        ("/endpoints/{name}/charts/{kind}.svg", "GET", endpoint_chart),
        ("/cost", "GET", cost_page),
        ("/cost/chart.svg", "GET", cost_chart),
        ("/events", "GET", events_page),
    ])
