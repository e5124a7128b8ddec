"""The cost delta of a change: per changed workload, per cost center, in total.

Compares the workloads of two revisions under one price table. Monthly cost is
priced at the minimum replica count (what always runs) with the maximum shown
as a ceiling. Flags say what a reviewer must look at: a rise above the
thresholds, resources that are unset (the estimate is a floor, FM-38), and
workloads without a cost center (unallocated in showback, FM-40).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from neuroscale.cost.prices import PriceTable
from neuroscale.cost.workloads import Workload

UNALLOCATED = "(unallocated)"
_ZERO = Decimal(0)


def monthly(workload: Workload | None, prices: PriceTable, *, replicas: str = "min") -> Decimal:
    if workload is None:
        return _ZERO
    count = workload.min_replicas if replicas == "min" else workload.max_replicas
    return prices.monthly(cpu_cores=workload.per_replica.cpu_request,
                          memory_bytes=workload.per_replica.memory_request, replicas=count)


@dataclass(frozen=True)
class WorkloadDelta:
    before: Workload | None
    after: Workload | None
    monthly_before: Decimal
    monthly_after: Decimal
    monthly_max_after: Decimal
    flags: tuple[str, ...]

    @property
    def current(self) -> Workload:
        return self.after or self.before  # type: ignore[return-value]

    @property
    def change(self) -> str:
        return "added" if self.before is None else "removed" if self.after is None else "changed"

    @property
    def delta(self) -> Decimal:
        return self.monthly_after - self.monthly_before

    def to_dict(self) -> dict[str, Any]:
        w = self.current
        side = self.after or self.before
        res = side.per_replica if side else None
        return {
            "kind": w.kind, "name": w.name, "namespace": w.namespace or "default", "file": w.file,
            "change": self.change, "costCenter": w.cost_center or UNALLOCATED, "owner": w.owner,
            "cpuRequest": str(res.cpu_request) if res else "0", "cpuLimit": str(res.cpu_limit) if res else "0",
            "memoryRequestBytes": int(res.memory_request) if res else 0,
            "memoryLimitBytes": int(res.memory_limit) if res else 0,
            "replicas": {"before": _replicas(self.before), "after": _replicas(self.after)},
            "resourcesFrom": w.resources_from,
            "monthlyBefore": str(self.monthly_before), "monthlyAfter": str(self.monthly_after),
            "monthlyMaxAfter": str(self.monthly_max_after), "monthlyDelta": str(self.delta), "flags": list(self.flags),
        }


def _replicas(w: Workload | None) -> str:
    if w is None:
        return "0"
    return str(w.min_replicas) if w.min_replicas == w.max_replicas else f"{w.min_replicas}-{w.max_replicas}"


@dataclass(frozen=True)
class CostDelta:
    currency: str
    items: tuple[WorkloadDelta, ...]
    by_cost_center: dict[str, tuple[Decimal, Decimal]]  # cost center -> (monthly before, after), all workloads
    total_before: Decimal
    total_after: Decimal
    flags: tuple[str, ...]

    @property
    def total_delta(self) -> Decimal:
        return self.total_after - self.total_before

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "workloads": [item.to_dict() for item in self.items],
            "costCenters": {cc: {"monthlyBefore": str(b), "monthlyAfter": str(a), "monthlyDelta": str(a - b)}
                            for cc, (b, a) in sorted(self.by_cost_center.items())},
            "totalMonthlyBefore": str(self.total_before), "totalMonthlyAfter": str(self.total_after),
            "totalMonthlyDelta": str(self.total_delta), "flags": list(self.flags),
        }


def _flags(before: Workload | None, after: Workload | None, delta: Decimal, prices: PriceTable) -> tuple[str, ...]:
    flags = []
    if delta > prices.workload_delta_threshold:
        flags.append(f"monthly cost rises by {delta} {prices.currency}, above {prices.workload_delta_threshold}")
    if after is not None and after.resources_from == "unset":
        flags.append("resources unset: the estimate is a floor; set requests and limits")
    if after is not None and not after.cost_center:
        flags.append("no cost-center label: cost is unallocated")
    return tuple(flags)


def cost_delta(before: Iterable[Workload], after: Iterable[Workload], prices: PriceTable) -> CostDelta:
    """Delta of every workload that was added, removed or changed between two revisions."""
    old = {w.key: w for w in before}
    new = {w.key: w for w in after}
    items = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a is not None and b is not None and (a.per_replica, a.min_replicas, a.max_replicas, a.cost_center) == (
                b.per_replica, b.min_replicas, b.max_replicas, b.cost_center):
            continue
        m_before, m_after = monthly(a, prices), monthly(b, prices)
        items.append(WorkloadDelta(a, b, m_before, m_after, monthly(b, prices, replicas="max"),
                                   _flags(a, b, m_after - m_before, prices)))
    centers: dict[str, list[Decimal]] = defaultdict(lambda: [_ZERO, _ZERO])
    for side, workloads in ((0, old), (1, new)):
        for w in workloads.values():
            centers[w.cost_center or UNALLOCATED][side] += monthly(w, prices)
    total_before = sum((monthly(w, prices) for w in old.values()), _ZERO)
    total_after = sum((monthly(w, prices) for w in new.values()), _ZERO)
    flags = []
    if total_after - total_before > prices.total_delta_threshold:
        flags.append(f"total monthly cost rises by {total_after - total_before} {prices.currency}, "
                     f"above {prices.total_delta_threshold}")
    return CostDelta(currency=prices.currency, items=tuple(items),
                     by_cost_center={cc: (v[0], v[1]) for cc, v in centers.items()},
                     total_before=total_before, total_after=total_after, flags=tuple(flags))
