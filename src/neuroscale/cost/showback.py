"""Showback: measured usage of each endpoint, priced, allocated and aggregated the way OpenCost does.

Input is what the metrics store observed per endpoint (CPU seconds used,
memory byte-seconds, and the cores and bytes its replicas requested over the
same time); output is OpenCost's allocation response: one set per `step`, each
mapping an aggregate key to an allocation with OpenCost's field names, so an
OpenCost client reads it unchanged.

Idle is "requested but not used": an endpoint whose replicas reserve a core
and use a tenth of it leaves 0.9 core idle. OpenCost bills an allocation at
max(request, usage); here that total is split into what was used (the
allocation) and what was reserved for nothing (`__idle__`), so
`idle=false` shows pure use, `idle=true` adds the waste as its own line, and
`shareIdle=true` folds each endpoint's own idle back into it (OpenCost's
max(request, usage) per allocation). Efficiency is used / requested, as
OpenCost's `cpuEfficiency`, `ramEfficiency` and `totalEfficiency`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from neuroscale.cost.prices import PriceTable
from neuroscale.cost.window import Window
from neuroscale.errors import InvalidInput

IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
HOUR = 3600.0
GIB = float(2**30)
_AGGREGATES = ("cluster", "namespace", "controllerKind", "controller", "endpoint", "label:<name>")
CLUSTER = "embedded"


class Observed(Protocol):
    """The additive readings one row of the metrics store carries."""

    seconds: float
    cpu_seconds: float
    memory_byte_seconds: float
    cpu_request_core_seconds: float
    memory_request_byte_seconds: float


@dataclass(frozen=True)
class Sample:
    endpoint: str
    start: float
    usage: Observed


@dataclass(frozen=True)
class Owner:
    """Where an endpoint belongs: its namespace and labels (owner, cost-center, …)."""

    namespace: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Query:
    window: Window
    aggregate: tuple[str, ...] = ("controller",)
    step: float | None = None
    accumulate: bool = False
    idle: bool = True
    share_idle: bool = False


def parse_aggregate(text: str | None) -> tuple[str, ...]:
    """`namespace`, `controller`, `label:cost-center`, or several joined by commas (multi-aggregation)."""
    if not text:
        return ("controller",)
    keys = tuple(part.strip() for part in text.split(",") if part.strip())
    for key in keys:
        if key not in _AGGREGATES and not (key.startswith("label:") and len(key) > len("label:")):
            raise InvalidInput(f"cannot aggregate by {key!r}", where="aggregate",
                               fix=f"use {', '.join(_AGGREGATES)}, or several joined by commas")
    return keys


@dataclass
class _Sums:
    cpu_used: float = 0.0  # core-seconds
    cpu_requested: float = 0.0
    ram_used: float = 0.0  # byte-seconds
    ram_requested: float = 0.0

    def add(self, usage: Observed) -> None:
        self.cpu_used += usage.cpu_seconds
        self.cpu_requested += usage.cpu_request_core_seconds
        self.ram_used += usage.memory_byte_seconds
        self.ram_requested += usage.memory_request_byte_seconds

    def plus(self, other: _Sums) -> _Sums:
        return _Sums(self.cpu_used + other.cpu_used, self.cpu_requested + other.cpu_requested,
                     self.ram_used + other.ram_used, self.ram_requested + other.ram_requested)

    def idle(self) -> _Sums:
        """Reserved but not used (never negative: use beyond a request is not negative idle)."""
        return _Sums(max(self.cpu_requested - self.cpu_used, 0.0), 0.0,
                     max(self.ram_requested - self.ram_used, 0.0), 0.0)


def _key(endpoint: str, owner: Owner | None, aggregate: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The allocation's name for this endpoint and the properties that name stands for."""
    parts: list[str] = []
    properties: dict[str, Any] = {"cluster": CLUSTER}
    labels = dict(owner.labels) if owner else {}
    for key in aggregate:
        if key == "cluster":
            parts.append(CLUSTER)
        elif key == "namespace":
            parts.append(owner.namespace if owner else UNALLOCATED)
            properties["namespace"] = parts[-1]
        elif key == "controllerKind":
            parts.append("InferenceService")
            properties["controllerKind"] = "InferenceService"
        elif key in ("controller", "endpoint"):
            parts.append(endpoint)
            properties.update(controller=endpoint, controllerKind="InferenceService")
        else:
            label = key.removeprefix("label:")
            parts.append(labels.get(label) or UNALLOCATED)
            properties.setdefault("labels", {})[label] = parts[-1]
    return "/".join(parts), properties


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ratio(used: float, requested: float) -> float:
    if requested > 0:
        return used / requested
    return 1.0 if used > 0 else 0.0


def allocation(name: str, properties: Mapping[str, Any], window: Window, sums: _Sums, *, billed: _Sums,
               prices: PriceTable) -> dict[str, Any]:
    """One OpenCost allocation: `sums` says what was used and requested, `billed` what is charged."""
    seconds = max(window.seconds, 1e-9)
    hours = seconds / HOUR
    cpu_core_hours = billed.cpu_used / HOUR
    ram_byte_hours = billed.ram_used / HOUR
    cpu_cost = cpu_core_hours * float(prices.cpu_per_vcpu_hour)
    ram_cost = ram_byte_hours / GIB * float(prices.memory_per_gib_hour)
    requested_cost = (sums.cpu_requested / HOUR * float(prices.cpu_per_vcpu_hour)
                      + sums.ram_requested / HOUR / GIB * float(prices.memory_per_gib_hour))
    used_cost = (sums.cpu_used / HOUR * float(prices.cpu_per_vcpu_hour)
                 + sums.ram_used / HOUR / GIB * float(prices.memory_per_gib_hour))
    zero_fields = ("gpuCount", "gpuHours", "gpuCost", "gpuCostAdjustment", "networkTransferBytes",
                   "networkReceiveBytes", "networkCost", "networkCostAdjustment", "loadBalancerCost",
                   "loadBalancerCostAdjustment", "pvBytes", "pvByteHours", "pvCost", "pvCostAdjustment",
                   "cpuCostAdjustment", "ramCostAdjustment", "sharedCost", "externalCost")
    return {
        "name": name,
        "properties": dict(properties),
        "window": {"start": _iso(window.start), "end": _iso(window.end)},
        "start": _iso(window.start),
        "end": _iso(window.end),
        "minutes": round(seconds / 60, 6),
        "cpuCores": cpu_core_hours / hours,
        "cpuCoreRequestAverage": sums.cpu_requested / seconds,
        "cpuCoreUsageAverage": sums.cpu_used / seconds,
        "cpuCoreHours": cpu_core_hours,
        "cpuCost": cpu_cost,
        "cpuEfficiency": _ratio(sums.cpu_used, sums.cpu_requested),
        "ramBytes": ram_byte_hours / hours,
        "ramByteRequestAverage": sums.ram_requested / seconds,
        "ramByteUsageAverage": sums.ram_used / seconds,
        "ramByteHours": ram_byte_hours,
        "ramCost": ram_cost,
        "ramEfficiency": _ratio(sums.ram_used, sums.ram_requested),
        **{field: 0.0 for field in zero_fields},
        "pvs": None,
        "totalCost": cpu_cost + ram_cost,
        "totalEfficiency": _ratio(used_cost, requested_cost),
    }


def allocate(samples: Iterable[Sample], owners: Mapping[str, Owner], query: Query,
             prices: PriceTable) -> list[dict[str, dict[str, Any]]]:
    """OpenCost's `data`: one allocation set per step (a single set when accumulating)."""
    windows = [query.window] if query.accumulate else query.window.split(query.step)
    per_set: list[dict[str, tuple[dict[str, Any], dict[str, _Sums]]]] = [{} for _ in windows]
    for sample in samples:
        if not query.window.start <= sample.start < query.window.end:
            continue
        index = 0 if len(windows) == 1 else next(
            (i for i, w in enumerate(windows) if w.start <= sample.start < w.end), len(windows) - 1)
        name, properties = _key(sample.endpoint, owners.get(sample.endpoint), query.aggregate)
        members = per_set[index].setdefault(name, (properties, {}))[1]
        members.setdefault(sample.endpoint, _Sums()).add(sample.usage)
    out = []
    for window, groups in zip(windows, per_set):
        result: dict[str, dict[str, Any]] = {}
        idle = _Sums()
        for name, (properties, members) in sorted(groups.items()):
            sums, own_idle = _Sums(), _Sums()
            for endpoint_sums in members.values():  # idle per endpoint: one's overuse never hides another's waste
                sums = sums.plus(endpoint_sums)
                own_idle = own_idle.plus(endpoint_sums.idle())
            idle = idle.plus(own_idle)
            billed = sums.plus(own_idle) if query.share_idle else sums
            result[name] = allocation(name, properties, window, sums, billed=billed, prices=prices)
        if query.idle and not query.share_idle and groups:
            result[IDLE] = allocation(IDLE, {"cluster": CLUSTER}, window, _Sums(), billed=idle, prices=prices)
        out.append(result)
    return out
