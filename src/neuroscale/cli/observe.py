"""`neuroscale endpoint show`, `logs` and `cost`: what an endpoint is, what it prints, what it costs.

Thin commands over `services.observe` and `services.usage`; the portal's
endpoint and cost pages read the same services, so both show the same facts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, printable, simple_table
from neuroscale.cli.pr import HOME_OPTION, open_platform
from neuroscale.cost.prices import PriceTable
from neuroscale.services.observe import EndpointDetail, endpoint_detail, follow, log_tails
from neuroscale.services.usage import AllocationParams, opencost_allocation, showback


def _detail_tables(detail: EndpointDetail) -> Group:
    status = detail.status or {}
    spec = detail.spec or {}
    facts = simple_table(f"Endpoint {detail.name}", ("FIELD", "VALUE"), [
        ("on main", "yes" if detail.on_main else "no (being pruned)"), ("url", status.get("url")),
        ("health", status.get("health")), ("sync", status.get("sync")), ("serving", status.get("revision")),
        *((key, value) for key, value in spec.items() if key != "name")])
    conditions = simple_table("Conditions (newest first)", ("TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"), [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("last_transition"))
        for c in detail.condition_history])
    revisions = simple_table("Revisions", ("REVISION", "CREATED", "COMMIT", "PR", "TRAFFIC", "READY/DESIRED"), [
        (r.name + (" (latest)" if r.latest else ""), r.created_at, (r.commit or "")[:10],
         f"#{r.pull_request}" if r.pull_request else "", f"{r.percent}%", f"{r.ready_replicas}/{r.desired_replicas}")
        for r in detail.revisions])
    call = detail.call
    calls = Text("\n".join(["Call it:", f"  {call.curl_v1}", f"  {call.curl_v2}",
                            *([f"  ({call.metadata_error}; the example input is a guess)"]
                              if call.metadata_error else [])]))
    logs = [Text(printable(f"--- {tail.process} ({tail.path})\n" + "\n".join(tail.lines))) for tail in detail.logs]
    return Group(facts, conditions, revisions, calls, *_shadow_table(detail.shadow), *logs)


def _latency(quantiles: dict[str, float] | None) -> str:
    return f"p50 {quantiles['p50']:.1f} ms / p99 {quantiles['p99']:.1f} ms" if quantiles else "—"


def _shadow_table(shadow: dict[str, Any] | None) -> list[Table]:
    if not shadow:
        return []
    agreement = shadow.get("agreement")
    return [simple_table(f"Shadow traffic to {shadow['revision']} (compared with the serving revision)",
                         ("AGREEMENT", "AGREE", "DISAGREE", "ERROR", "SKIPPED", "SERVING", "SHADOW"), [(
                             "—" if agreement is None else f"{agreement:.1%}", shadow.get("agree", 0),
                             shadow.get("disagree", 0), shadow.get("error", 0), shadow.get("skipped", 0),
                             _latency(shadow.get("primary_ms")), _latency(shadow.get("shadow_ms")))])]


def show(name: str = typer.Argument(..., help="The endpoint."), home: str | None = HOME_OPTION,
         lines: int = typer.Option(10, "--lines", "-n", help="Log lines per process."),
         output: OutputFormat = OUTPUT_OPTION) -> None:
    """Spec, conditions with their history, revisions (commit, PR, traffic, replicas), URL, how to call it, logs."""
    with open_platform(home) as ctx:
        detail = endpoint_detail(ctx, name, log_lines=lines)
    emit(detail, output, table=lambda: _detail_tables(detail))


def logs(name: str = typer.Argument(..., help="The endpoint."),
         revision: str | None = typer.Option(None, "--revision", "-r", help="Only this revision's processes."),
         follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C stops)."),
         lines: int = typer.Option(40, "--lines", "-n", help="Lines of each process's log to start with."),
         home: str | None = HOME_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """The model-server logs of an endpoint, one block per process (<revision>[.r<replica>])."""
    with open_platform(home) as ctx:
        tails = log_tails(ctx, name, revision=revision, lines=lines)
        if output is not OutputFormat.table:
            emit(tails, output)
            return
        for tail in tails:
            typer.echo(f"==> {tail.process} <==")
            for line in tail.lines:
                typer.echo(printable(line))
        if not tails:
            typer.echo(f"no model-server logs for {name} yet", err=True)
        if follow_:
            for process, line in follow(ctx, name, revision=revision):
                typer.echo(printable(f"[{process}] {line}"))


def _cost_rows(response: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for index, allocation_set in enumerate(response.get("data") or []):
        for name, item in (allocation_set or {}).items():
            rows.append((index + 1 if len(response["data"]) > 1 else "", name, item.get("start"), item.get("end"),
                         f"{item.get('cpuCoreHours', 0):.4f}", f"{item.get('ramByteHours', 0) / 2**30:.4f}",
                         f"{item.get('cpuEfficiency', 0):.0%}", f"{item.get('totalEfficiency', 0):.0%}",
                         f"{item.get('totalCost', 0):.4f}"))
    return rows


def cost(window: str = typer.Option("24h", "--window", "-w", help="OpenCost window: 30m, 24h, 7d, today, "
                                    "lastweek, or start,end (RFC 3339 or unix seconds)."),
         aggregate: str = typer.Option("controller", "--aggregate", "-a", help="namespace, controller (endpoint), "
                                       "label:<name> (e.g. label:cost-center), or several joined by commas."),
         step: str | None = typer.Option(None, "--step", help="One set per step (e.g. 1h, 1d)."),
         accumulate: bool = typer.Option(False, "--accumulate", help="One set for the whole window."),
         idle: bool = typer.Option(True, "--idle/--no-idle", help="Show requested-but-unused cost as __idle__."),
         share_idle: bool = typer.Option(False, "--share-idle", help="Bill each allocation for its own idle."),
         price_table: Path | None = typer.Option(None, "--price-table", help="YAML/JSON price table."),
         opencost_url: str | None = typer.Option(None, "--opencost-url", envvar="NEUROSCALE_OPENCOST_URL",
                                                 help="Cluster mode: ask this OpenCost (e.g. http://localhost:9003)."),
         home: str | None = HOME_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Measured cost per endpoint or label, OpenCost's allocation shape (embedded) or OpenCost itself (cluster)."""
    params = AllocationParams(window=window, aggregate=aggregate, step=step, accumulate=str(accumulate).lower(),
                              idle=str(idle).lower(), share_idle=str(share_idle).lower())
    if opencost_url:
        response = opencost_allocation(opencost_url, params)
    else:
        prices = PriceTable.load(price_table) if price_table else PriceTable()
        with open_platform(home) as ctx:
            response = showback(ctx, params, prices=prices, now=time.time())
    emit(response, output, table=lambda: simple_table(
        f"Cost over {window} by {aggregate}", ("SET", "NAME", "START", "END", "CPU CORE-H", "RAM GIB-H",
                                               "CPU EFF.", "EFFICIENCY", "COST"), _cost_rows(response)))


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
    app.command("cost")(cost)
