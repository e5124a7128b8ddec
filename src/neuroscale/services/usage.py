"""Usage and cost over time: chart series per endpoint and OpenCost-shaped showback.

Embedded mode reads the metrics store the supervisor's scraper fills; cluster
mode asks the cluster's OpenCost the same question (`/allocation/compute` with
the same parameters) and hands its answer back unchanged, so `neuroscale cost`
and the portal speak one shape in both modes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from neuroscale.cost.prices import PriceTable
from neuroscale.cost.showback import Owner, Query, Sample, allocate, parse_aggregate
from neuroscale.cost.window import parse_duration, parse_window
from neuroscale.errors import InvalidInput, ToolError
from neuroscale.gitops.repo import MAIN
from neuroscale.metrics.series import Point, points
from neuroscale.metrics.store import MetricsStore
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import validate_name
from neuroscale.spec.manifest import APPS_DIR
from neuroscale.yamlio import load_one

#: Chart windows the portal offers, and the points drawn per chart.
CHART_WINDOWS = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}
CHART_POINTS = 60
OPENCOST_TIMEOUT_S = 30.0


def chart_series(ctx: PlatformContext, name: str, *, window: str = "1h", now: float | None = None) -> list[Point]:
    validate_name(name)
    if window not in CHART_WINDOWS:
        raise InvalidInput(f"unknown chart window {window!r}", where="window",
                           fix=f"choose one of {', '.join(CHART_WINDOWS)}")
    end = time.time() if now is None else now
    span = CHART_WINDOWS[window]
    step = max(span / CHART_POINTS, 10.0)
    start = end - span
    rows = MetricsStore(ctx.db).rows(start=start, end=end, endpoint=name)
    return points(rows, start=start, end=end, step=step)


def _bool(value: str | None, *, name: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name}={value!r} is not a boolean", where=name, fix="write true or false")


@dataclass(frozen=True)
class AllocationParams:
    """OpenCost's allocation query parameters, as text (from a URL or the CLI)."""

    window: str
    aggregate: str | None = None
    step: str | None = None
    accumulate: str | None = None
    idle: str | None = None
    share_idle: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AllocationParams:
        if not query.get("window"):
            raise InvalidInput("the window parameter is required", where="window",
                               fix="add e.g. ?window=24h (OpenCost's window syntax)")
        return cls(window=query["window"], aggregate=query.get("aggregate"), step=query.get("step"),
                   accumulate=query.get("accumulate"), idle=query.get("idle", query.get("includeIdle")),
                   share_idle=query.get("shareIdle"))

    def as_query(self) -> dict[str, str]:
        pairs = {"window": self.window, "aggregate": self.aggregate, "step": self.step,
                 "accumulate": self.accumulate, "includeIdle": self.idle, "shareIdle": self.share_idle}
        return {key: value for key, value in pairs.items() if value is not None}

    def parsed(self, *, now: float) -> Query:
        window = parse_window(self.window, now=now)
        return Query(window=window, aggregate=parse_aggregate(self.aggregate),
                     step=parse_duration(self.step, where="step") if self.step else None,
                     accumulate=_bool(self.accumulate, name="accumulate", default=False),
                     idle=_bool(self.idle, name="idle", default=True),
                     share_idle=_bool(self.share_idle, name="shareIdle", default=False))


def _manifest_owners(ctx: PlatformContext) -> dict[str, Owner]:
    """Namespace and labels of every InferenceService on main, as its manifest states them."""
    found = (_owner(path, content) for path, content in ctx.repo.read_files(MAIN, f"{APPS_DIR}/").items()
             if path.endswith((".yaml", ".yml")))
    return dict(owner for owner in found if owner is not None)


@functools.lru_cache(maxsize=4096)
def _owner(path: str, content: bytes) -> tuple[str, Owner] | None:
    """(name, owner) a manifest states, remembered by its bytes (the cost page asks on every view)."""
    try:
        doc = load_one(content.decode("utf-8", "replace"), where=path)
    except InvalidInput:
        return None
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return None
    labels = metadata.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    return metadata["name"], Owner(str(metadata.get("namespace") or "default"),
                                   {str(k): str(v) for k, v in labels.items()})


def showback(ctx: PlatformContext, params: AllocationParams, *, prices: PriceTable,
             now: float | None = None) -> dict[str, Any]:
    """OpenCost's allocation response for the embedded platform's measured usage."""
    return showbacks(ctx, [params], prices=prices, now=now)[0]


def showbacks(ctx: PlatformContext, views: Sequence[AllocationParams], *, prices: PriceTable,
              now: float | None = None) -> list[dict[str, Any]]:
    """Several allocation views (the cost page: without and with idle) from one read of the store per window."""
    at = time.time() if now is None else now
    store = MetricsStore(ctx.db)
    owners = {name: Owner(known.namespace, dict(known.labels)) for name, known in store.known_labels().items()}
    owners.update(_manifest_owners(ctx))  # main's labels win: they are what the team maintains now
    read: dict[tuple[float, float, float | None], list[Sample]] = {}
    answers = []
    for params in views:
        query = params.parsed(now=at)
        every = None if query.accumulate else query.step
        key = (query.window.start, query.window.end, every)
        if key not in read:
            read[key] = [Sample(row.endpoint, row.start, row.usage) for row in store.resource_totals(
                start=query.window.start, end=query.window.end, every=every)]
        answers.append({"code": 200, "status": "success", "data": allocate(read[key], owners, query, prices)})
    return answers


def opencost_allocation(base_url: str, params: AllocationParams) -> dict[str, Any]:
    """Cluster mode: the same question to the cluster's OpenCost; its answer as it gave it."""
    url = f"{base_url.rstrip('/')}/allocation/compute"
    try:
        response = httpx.get(url, params=params.as_query(), timeout=OPENCOST_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise ToolError(f"OpenCost at {base_url} did not answer: {exc}", where=url,
                        fix="port-forward it (`kubectl -n opencost port-forward deployment/opencost 9003`) or "
                            "check --opencost-url") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
        detail = body.get("message") if isinstance(body, dict) else response.text[:200]
        raise ToolError(f"OpenCost answered {response.status_code}: {detail}", where=url,
                        fix="check the query parameters and OpenCost's log")
    return body
