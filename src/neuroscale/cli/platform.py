"""Platform commands: `up`, `down`, `status`, `events` and `demo`."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

import typer
from rich.console import Console
from rich.panel import Panel

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table
from neuroscale.errors import InvalidInput, NotFound
from neuroscale.jsonable import as_plain, whole_seconds
from neuroscale.yamlio import dump
from neuroscale.home import DEFAULT_DOMAIN, DEFAULT_GATEWAY_PORT, DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home

HOME_OPTION = typer.Option(None, "--home", envvar="NEUROSCALE_HOME",
                           help="Platform home (default ./.neuroscale).")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
    app.command("events")(events)
    app.command("demo")(demo)


def _start(home: Home, settings: Any) -> tuple[Any, str]:
    """Start the platform; returns it with a one-time login link for the portal."""
    from neuroscale.services.context import PlatformContext
    from neuroscale.services.identity import cli_actor, issue_login_link
    from neuroscale.supervisor.platform import Platform

    settings.validate()
    err = Console(stderr=True)
    for warning in settings.exposure_warnings():
        err.print(f"[bold yellow]warning[/]: {warning}", highlight=False)
    with PlatformContext.open(home, create=True) as ctx:
        login = f"{settings.portal_url}/login?token={issue_login_link(ctx, actor=cli_actor(ctx))}"
    platform = Platform(home=home, settings=settings, log=lambda line: Console(stderr=True).print(line))
    platform.start()
    return platform, login


def _serve_until_interrupted(platform: Any) -> None:
    import signal

    def _terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        while True:
            platform.watch_once()
            time.sleep(0.5)
    except KeyboardInterrupt:
        Console(stderr=True).print("stopping the platform…")
    finally:
        platform.stop()


def _urls(platform: Any, login: str) -> str:
    s = platform.settings
    return (f"portal   {s.portal_url}\n"
            f"sign in  {login}\n"
            f"         (one-time link; later: `neuroscale login-link`)\n"
            f"gateway  {s.gateway_url}  (Host: <name>.<namespace>.{s.domain})\n"
            f"home     {platform.home.root}")


def up(
    home: Optional[str] = HOME_OPTION,
    host: str = typer.Option(DEFAULT_HOST, help="Address to bind (loopback by default; others need TLS or "
                                                 "--insecure-http)."),
    portal_port: int = typer.Option(DEFAULT_PORTAL_PORT, help="Portal port."),
    gateway_port: int = typer.Option(DEFAULT_GATEWAY_PORT, help="Gateway port."),
    domain: str = typer.Option(DEFAULT_DOMAIN, help="Ingress domain for Host-based routing."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", metavar="NAME", help="Another Host name the "
                                           "portal and gateway answer (repeatable); loopback names and the bind "
                                           "address always are."),
    tls_cert: str = typer.Option("", "--tls-cert", help="PEM certificate: the portal serves HTTPS."),
    tls_key: str = typer.Option("", "--tls-key", help="PEM private key of --tls-cert."),
    insecure_http: bool = typer.Option(False, "--insecure-http", help="Allow a non-loopback --host without TLS "
                                       "(e.g. behind a TLS-terminating proxy you trust)."),
    oidc_issuer: str = typer.Option("", "--oidc-issuer", help="OpenID Connect issuer URL: offer sign-in through "
                                    "it (client secret from NEUROSCALE_OIDC_CLIENT_SECRET)."),
    oidc_client_id: str = typer.Option("", "--oidc-client-id", help="Client id registered at the issuer."),
    oidc_username_claim: str = typer.Option("preferred_username", "--oidc-username-claim",
                                            help="ID-token claim that names the NeuroScale user."),
    oidc_default_role: str = typer.Option("", "--oidc-default-role", help="Role for people signing in for the "
                                          "first time (default: refused until `neuroscale user add`)."),
    model_root: list[str] = typer.Option(
        [], "--model-root", help="Another directory local model files may come from (repeatable; the home's "
                                 "models/ always is one; also NEUROSCALE_MODEL_ROOTS, separated by ':')."),
    max_previews: int = typer.Option(3, "--max-previews", min=1, help="Pull-request previews running at once; "
                                     "beyond it the longest idle one stops and its pull request says so."),
    warm_spares: bool = typer.Option(True, "--warm-spares/--no-warm-spares",
                                     help="Keep one pre-imported model server per format in use that forks new "
                                          "servers (about 120 MiB for scikit-learn): merges, scale-ups and "
                                          "restarts wait for the model load, not for imports."),
    shared_runtime: bool = typer.Option(False, "--shared-runtime/--no-shared-runtime",
                                        help="Serve scikit-learn, XGBoost, LightGBM and ONNX models (HTTP, no custom "
                                             "classes) from shared processes of their format, many models each: "
                                             "about 1 MiB per iris endpoint instead of 26; a crash of a shared process "
                                             "restarts all its models."),
    models_per_process: int = typer.Option(100, "--models-per-process", min=1,
                                           help="Models one shared process serves at most (--shared-runtime)."),
) -> None:
    """Start the portal, reconciler and gateway; Ctrl-C stops everything it started."""
    from neuroscale.supervisor.settings import PlatformSettings

    settings = PlatformSettings(
        host=host, portal_port=portal_port, gateway_port=gateway_port, domain=domain, model_roots=tuple(model_root),
        allowed_hosts=tuple(allowed_host), tls_cert=tls_cert, tls_key=tls_key, insecure_http=insecure_http,
        oidc_issuer=oidc_issuer, oidc_client_id=oidc_client_id, oidc_username_claim=oidc_username_claim,
        oidc_default_role=oidc_default_role, max_previews=max_previews, warm_spares=warm_spares,
        shared_runtime=shared_runtime, models_per_process=models_per_process)
    platform, login = _start(Home.resolve(home), settings)
    Console().print(Panel(_urls(platform, login), title="NeuroScale is up", expand=False))
    _serve_until_interrupted(platform)


def down(home: Optional[str] = HOME_OPTION) -> None:
    """Stop the platform running on this home (its endpoints stop too)."""
    from neuroscale.supervisor.platform import is_running, signal_supervisor, stop_orphaned

    resolved = Home.resolve(home)
    if not is_running(resolved) and (orphaned := stop_orphaned(resolved)):
        for line in orphaned:
            typer.echo(line)
        return
    pid = signal_supervisor(resolved)
    deadline = time.monotonic() + 20
    while is_running(resolved) and time.monotonic() < deadline:
        time.sleep(0.1)
    typer.echo(f"stopped the platform on {resolved.root} (supervisor pid {pid})")


def _open_store(home: Home) -> Any:
    from neuroscale.db import connect
    from neuroscale.engine.store import StatusStore

    if not home.state_db.exists():
        raise NotFound(f"no platform home at {home.root}", fix="run `neuroscale up` first, or pass --home")
    return StatusStore(connect(home.state_db))


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c.get("type") == kind), {})


def _replicas(item: dict[str, Any]) -> str:
    """`ready/desired (min-max)` of the latest revision; max 0 reads as the platform's cap."""
    replicas = item.get("replicas") or {}
    if not replicas:
        return ""
    upper = replicas.get("max") or "cap"
    return f"{replicas.get('ready', 0)}/{replicas.get('desired', 0)} ({replicas.get('min', 0)}-{upper})"


def _observed(item: dict[str, Any]) -> str:
    """How long ago the reconciler last confirmed this row (from its heartbeat)."""
    age = item.get("observed_age")
    return f"{age:g}s ago" if isinstance(age, (int, float)) else ""


def _traffic(item: dict[str, Any]) -> str:
    return ", ".join(f"{t.get('revision')} {t.get('percent')}%" for t in item.get("traffic", []) if t.get("percent"))


def status(
    name: Optional[str] = typer.Argument(None, help="One endpoint; all when omitted."),
    home: Optional[str] = HOME_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Conditions, sync, health, URL and revision per endpoint (KServe and Argo CD vocabulary).

    OBSERVED is how long ago the reconciler last confirmed the row; when it stops observing (hung,
    stopped, dead) READY and HEALTH read Unknown after three missed heartbeats.
    """
    store = _open_store(Home.resolve(home))
    if name:
        found = store.get(name)
        if found is None:
            raise NotFound(f"endpoint '{name}' has no status", fix="list endpoints with `neuroscale status`")
        rows = [found.to_dict()]
    else:
        rows = [s.to_dict() for s in store.list_endpoints()]
    data: Any = rows[0] if name else rows

    def table() -> Any:
        columns = ("NAME", "READY", "SYNC", "HEALTH", "OBSERVED", "REPLICAS", "TRAFFIC", "URL", "REASON", "MESSAGE")
        body = []
        for item in rows:
            ready = _condition(item, "Ready")
            body.append((item["name"], ready.get("status", "Unknown"), item.get("sync"), item.get("health"),
                         _observed(item), _replicas(item), _traffic(item), item.get("url"), ready.get("reason"),
                         ready.get("message")))
        main = simple_table("Endpoints", columns, body)
        if not name:
            return main
        conditions = simple_table(f"Conditions of {name}", ("TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"), [
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("last_transition"))
            for c in rows[0].get("conditions", [])])
        revisions = simple_table(f"Revisions of {name}", ("REVISION", "TRAFFIC", "LATEST", "READY", "DESIRED"), [
            (t.get("revision"), f"{t.get('percent')}%", "yes" if t.get("latest") else "", t.get("ready_replicas"),
             t.get("desired_replicas")) for t in rows[0].get("traffic", [])])
        limits = simple_table(f"Limits of {name}", ("RESOURCE", "LIMIT AND ENFORCEMENT"),
                              sorted(rows[0].get("limits", {}).items()))
        from rich.console import Group

        return Group(main, conditions, revisions, limits)

    emit(data, output, table=table)


def _event_row(event: dict[str, Any]) -> tuple[Any, ...]:
    return (whole_seconds(str(event.get("time"))), event.get("endpoint") or "platform", event.get("type"),
            event.get("reason"), event.get("message"), event.get("actor"))


def events(
    name: Optional[str] = typer.Argument(None, help="Only this endpoint's events."),
    limit: int = typer.Option(50, help="How many, newest last."),
    kind: Optional[str] = typer.Option(None, "--type", help="Only Normal or Warning events."),
    follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events (Ctrl-C stops)."),
    home: Optional[str] = HOME_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """What happened and who did it, oldest first (as the portal lists them): PRs, deploys, restarts, denials."""
    if kind is not None and kind not in ("Normal", "Warning"):
        raise InvalidInput(f"unknown event type {kind!r}", where="--type", fix="use Normal or Warning")
    store = _open_store(Home.resolve(home))
    page = store.event_page(name=name, kind=kind, limit=limit)
    rows = [e.to_dict() for _, e in page]
    columns = ("TIME", "ENDPOINT", "TYPE", "REASON", "MESSAGE", "BY")
    emit(rows, output, table=lambda: simple_table("Events", columns, [_event_row(e) for e in rows]))
    newest = page or store.event_page(limit=1)
    last = newest[-1][0] if newest else 0
    while follow_:
        time.sleep(0.5)
        for last, event in store.event_page(name=name, kind=kind, after=last, limit=1000):
            if output is OutputFormat.table:
                typer.echo("  ".join(str(cell or "") for cell in _event_row(event.to_dict())))
            else:
                typer.echo(json.dumps(as_plain(event)) if output is OutputFormat.json
                           else "---\n" + dump(as_plain(event)), nl=output is OutputFormat.json)


def demo(
    home: Optional[str] = HOME_OPTION,
    exit_after: bool = typer.Option(False, "--exit", help="Stop right after the prediction."),
    portal_port: int = typer.Option(DEFAULT_PORTAL_PORT, help="Portal port."),
    gateway_port: int = typer.Option(DEFAULT_GATEWAY_PORT, help="Gateway port."),
) -> None:
    """Train iris, open its PR, show checks, merge, wait for Ready, predict through the gateway."""
    from neuroscale.supervisor import demo as golden

    console = Console()
    resolved = Home.resolve(home)
    console.print(f"[bold]1/5[/] starting the platform in {resolved.root}")
    from neuroscale.supervisor.settings import PlatformSettings

    platform, login = _start(resolved, PlatformSettings(portal_port=portal_port, gateway_port=gateway_port))
    try:
        console.print("[bold]2/5[/] training an iris classifier (scikit-learn's bundled dataset)")
        model = golden.train_iris(resolved.root / "models" / golden.DEMO_NAME)
        spec = golden.demo_spec(model)
        console.print(f"[bold]3/5[/] opening the pull request for [cyan]{spec.name}[/]")
        golden.open_and_merge(resolved, spec, lambda kind, data: _show_step(console, kind, data))
        with console.status("[bold]4/5[/] waiting for Ready…") as spinner:
            seconds = golden.wait_until_ready(
                resolved, spec.name, timeout=golden.READY_TIMEOUT_S,
                tick=lambda message: spinner.update(f"[bold]4/5[/] waiting for Ready… {message}"))
        console.print(f"[bold]4/5[/] [green]{spec.name} is Ready[/] ({seconds:.1f} s after merge)")
        body = {"instances": golden.DEMO_INSTANCES}
        console.print(f"[bold]5/5[/] POST {platform.settings.gateway_url}/v1/models/{spec.name}:predict "
                      f"{json.dumps(body, separators=(',', ':'))}", soft_wrap=True)
        answer = golden.predict(platform.settings, spec.name, golden.DEMO_INSTANCES)
        typer.echo(json.dumps(answer, separators=(",", ":")))
    except BaseException:
        platform.stop()
        raise
    if exit_after:
        platform.stop()
        return
    console.print(Panel(_urls(platform, login) + "\n\nCtrl-C stops every process the demo started.",
                        title="NeuroScale is running", expand=False))
    _serve_until_interrupted(platform)


def _show_step(console: Console, kind: str, data: Any) -> None:
    if kind == "already-merged":
        console.print(f"    {data} is already on main with this spec; nothing to merge")
    elif kind == "pull-request":
        console.print(f"    PR #{data['number']} [bold]{data['title']}[/] on branch {data['branch']} "
                      f"(head {str(data['head_sha'])[:8]})")
        for check in data.get("checks", []):
            mark = "[green]✓[/]" if check["status"] == "pass" else "[red]✗[/]"
            console.print(f"      {mark} {check['name']}")
            for finding in check.get("findings", []):
                console.print(f"          {finding.get('rule', '')}: {finding.get('message', '')}")
    elif kind == "merged":
        console.print(f"    merged PR #{data['number']} into main ({str(data.get('merged_sha'))[:8]})")
