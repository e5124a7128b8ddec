"""Markdown tables for a cost delta: one row per changed workload, one per cost center."""

from __future__ import annotations

from decimal import Decimal

from neuroscale.cost.delta import CostDelta


def _money(value: Decimal, currency: str, *, signed: bool = False) -> str:
    sign = "+" if signed and value > 0 else ""
    return f"{sign}{value:,.2f} {currency}"


def _cpu(cores: Decimal) -> str:
    return f"{int(cores * 1000)}m" if cores and cores < 1 else f"{cores.normalize():f}"


def _mem(size: Decimal) -> str:
    return f"{(size / 2**20).quantize(Decimal('1'))}Mi" if size else "0"


def render_markdown(delta: CostDelta) -> str:
    """Cost tables ready for a pull-request comment."""
    if not delta.items:
        return "No workload resources change.\n"
    cur = delta.currency
    lines = ["| workload | change | cost center | CPU req/lim | memory req/lim | replicas | monthly | delta | flags |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for item in delta.items:
        w = item.current
        res = (item.after or item.before).per_replica  # type: ignore[union-attr]
        data = item.to_dict()
        replicas = f"{data['replicas']['before']} → {data['replicas']['after']}"
        lines.append(
            f"| {w.kind}/{w.name} | {item.change} | {data['costCenter']} | {_cpu(res.cpu_request)}/{_cpu(res.cpu_limit)} "
            f"| {_mem(res.memory_request)}/{_mem(res.memory_limit)} | {replicas} "
            f"| {_money(item.monthly_after, cur)} (max {_money(item.monthly_max_after, cur)}) "
            f"| {_money(item.delta, cur, signed=True)} | {'; '.join(item.flags) or '—'} |")
    lines += ["", "| cost center | monthly before | monthly after | delta |", "| --- | --- | --- | --- |"]
    for center, (before, after) in sorted(delta.by_cost_center.items()):
        lines.append(f"| {center} | {_money(before, cur)} | {_money(after, cur)} | {_money(after - before, cur, signed=True)} |")
    lines.append(f"| **total** | {_money(delta.total_before, cur)} | {_money(delta.total_after, cur)} "
                 f"| **{_money(delta.total_delta, cur, signed=True)}** |")
    lines.extend(f"\n> ⚠️ {flag}" for flag in delta.flags)
    return "\n".join(lines) + "\n"
