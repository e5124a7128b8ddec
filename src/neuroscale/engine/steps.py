"""The reconcile steps for one endpoint, run in order on every tick.

Each step is small and owns one part of the story (and so one part of the
conditions computed afterwards in `report`):

1. `observe_exits`   — processes that died: event, failure record, backoff for crash loops (PredictorReady).
2. `probe_starting`  — start-up probes of new processes; start-up timeout (PredictorReady).
3. `probe_serving`   — liveness of ready processes: a hung one is killed, so step 1 restarts it.
4. `ensure_running`  — the target (unless backing off) and the serving revision have a process (PredictorReady).
5. `route_traffic`   — traffic moves to the target only once it is ready; others drain (IngressReady).
6. `retire_drained`  — once the gateway moved traffic and the grace passed: SIGTERM, then SIGKILL.

Steps touch the world only through `StepContext` (runtime, store, clock), so
they can be driven by a fake runtime in unit tests and by real processes in
integration tests.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from neuroscale.engine.backoff import FailureRecord
from neuroscale.engine.clock import Clock, iso
from neuroscale.engine.runtime import ExitInfo, ServerHandle
from neuroscale.engine.settings import EngineSettings
from neuroscale.engine.state import EndpointState, Phase, Server
from neuroscale.engine.store import EngineStore
from neuroscale.spec.serving import ServingSpec
from neuroscale.status.model import Event, EventType
from neuroscale.status.reasons import Reason

log = logging.getLogger("neuroscale.engine")


class Runtime(Protocol):
    def start(self, spec: ServingSpec, *, revision: str) -> ServerHandle: ...

    def adopt(self, *, endpoint: str, revision: str, pid: int, port: int, start_time: int) -> ServerHandle: ...

    def ready(self, handle: ServerHandle) -> bool: ...

    def live(self, handle: ServerHandle) -> bool: ...

    def exited(self, handle: ServerHandle) -> ExitInfo | None: ...

    def signal(self, handle: ServerHandle, sig: signal.Signals) -> None: ...


def _no_gateway(_endpoint: str) -> bool:
    return True


@dataclass
class StepContext:
    settings: EngineSettings
    runtime: Runtime
    store: EngineStore
    clock: Clock
    #: Has the gateway loaded the endpoint's current route? (the loop wires the gateway's acknowledgement)
    route_applied: Callable[[str], bool] = _no_gateway

    def event(self, endpoint: str, etype: EventType, reason: str, message: str) -> None:
        """Record an event (SQLite, for `neuroscale events`) and log it (the engine log)."""
        self.store.record_event(Event(iso(self.clock.time()), endpoint, etype, reason, message))
        level = logging.WARNING if etype is EventType.Warning else logging.INFO
        log.log(level, "%s %s: %s", endpoint, reason, message)

    def stop(self, server: Server) -> None:
        """SIGTERM now, SIGKILL when `stop_grace` has passed (checked by `observe_exits`)."""
        self.runtime.signal(server.handle, signal.SIGTERM)
        now = self.clock.monotonic()
        server.phase, server.since, server.deadline = Phase.Stopping, now, now + self.settings.stop_grace


def observe_exits(ctx: StepContext, ep: EndpointState) -> None:
    now = ctx.clock.monotonic()
    for server in list(ep.servers):
        info = ctx.runtime.exited(server.handle)
        if info is None:
            if server.phase is Phase.Stopping and now >= server.deadline:
                ctx.runtime.signal(server.handle, signal.SIGKILL)
                server.deadline = now + ctx.settings.stop_grace
            continue
        ep.servers.remove(server)
        ctx.store.remove_process(server.handle.pid)
        if not server.live:
            continue  # it was on its way out
        ctx.event(ep.name, EventType.Warning, Reason.ProcessExited,
                  f"{server.revision} (pid {server.handle.pid}): {info.reason}: {info.message}")
        if ep.target is not None and server.revision == ep.target.name:
            if server.phase is Phase.Ready:  # it was serving a while: self-heal restarts at once
                ep.failure = ep.failure.served_then_died(ctx.settings.backoff, ready_for=now - server.since)
            ep.failure = ep.failure.failed(ctx.settings.backoff, now=now, reason=info.reason, message=info.message)
            if ep.failure.crashlooping(ctx.settings.backoff):
                ctx.event(ep.name, EventType.Warning, Reason.CrashLoopBackOff,
                          f"back-off {ep.failure.delay:g}s restarting {server.revision} "
                          f"(failure {ep.failure.failures}): {info.reason}: {info.message}")


def probe_starting(ctx: StepContext, ep: EndpointState) -> None:
    for server in ep.servers:
        if server.phase is not Phase.Starting:
            continue
        now = ctx.clock.monotonic()
        if ctx.runtime.ready(server.handle):
            took = now - server.since
            server.phase, server.since = Phase.Ready, now
            ctx.event(ep.name, EventType.Normal, Reason.RevisionReady,
                      f"{server.revision} ready at {server.handle.upstream} after {took:.2f}s")
        elif now >= server.deadline:
            message = f"not ready {ctx.settings.startup_timeout:g}s after start; see {server.handle.log_path}"
            ctx.stop(server)
            ctx.event(ep.name, EventType.Warning, Reason.StartupTimeout, f"{server.revision}: {message}")
            if ep.target is not None and server.revision == ep.target.name:
                ep.failure = ep.failure.failed(ctx.settings.backoff, now=now, reason=Reason.StartupTimeout,
                                               message=message)


def probe_serving(ctx: StepContext, ep: EndpointState) -> None:
    """A ready server that stops answering (hung, deadlocked, stopped) is killed; its exit restarts it."""
    now = ctx.clock.monotonic()
    for server in ep.servers:
        if server.phase is not Phase.Ready or now < server.probe_at:
            continue
        server.probe_at = now + ctx.settings.liveness_period
        if ctx.runtime.live(server.handle):
            server.probe_failures = 0
            continue
        server.probe_failures += 1
        if server.probe_failures >= ctx.settings.liveness_failures:
            ctx.event(ep.name, EventType.Warning, Reason.LivenessProbeFailed,
                      f"{server.revision} (pid {server.handle.pid}) did not answer {server.probe_failures} "
                      f"liveness probes {ctx.settings.liveness_period:g}s apart; killing it so it restarts")
            ctx.runtime.signal(server.handle, signal.SIGKILL)
            server.probe_failures = 0


def ensure_running(ctx: StepContext, ep: EndpointState) -> None:
    """Start what is wanted and not running: the target after its back-off, the serving revision at once."""
    now = ctx.clock.monotonic()
    for wanted in ep.wanted():
        is_target = ep.target is not None and wanted.name == ep.target.name
        if ep.server_for(wanted.name) is not None or (is_target and not ep.failure.may_restart(now=now)):
            continue
        try:
            handle = ctx.runtime.start(wanted.spec, revision=wanted.name)
        except OSError as exc:
            message = f"could not start the model server: {exc}"
            if is_target:
                ep.failure = ep.failure.failed(ctx.settings.backoff, now=now, reason=Reason.ProcessExited,
                                               message=message)
            ctx.event(ep.name, EventType.Warning, Reason.ProcessExited, f"{wanted.name}: {message}")
            continue
        ctx.store.add_process(pid=handle.pid, endpoint=ep.name, revision=wanted.name, port=handle.port,
                              start_time=handle.start_time, started_at=iso(ctx.clock.time()))
        ep.servers.append(Server(handle, Phase.Starting, now, now + ctx.settings.startup_timeout))
        first = is_target and not ep.failure.failures
        ctx.event(ep.name, EventType.Normal, Reason.RevisionStarting if first else Reason.Restarted,
                  f"{wanted.name} started (pid {handle.pid}, port {handle.port}, log {handle.log_path})")


def route_traffic(ctx: StepContext, ep: EndpointState) -> None:
    """Switch traffic to the target once ready; drain what traffic left, stop what is unwanted."""
    now = ctx.clock.monotonic()
    ready = ep.server_for(ep.target.name, phase=Phase.Ready) if ep.target else None
    if ready is not None and ep.target is not None and ep.serving != ep.target.name:
        previous, ep.serving, ep.serving_target = ep.serving, ep.target.name, ep.target
        was = f" (was {previous})" if previous else ""
        ctx.event(ep.name, EventType.Normal, Reason.TrafficSwitched, f"100% of traffic to {ep.serving}{was}")
    keep = {wanted.name for wanted in ep.wanted()}
    seen: set[str] = set()
    for server in ep.servers:
        if not server.live:
            continue
        if server.revision in keep and server.revision not in seen:
            seen.add(server.revision)
            continue
        if server.phase is Phase.Ready and not ep.pruned:
            server.phase, server.since, server.deadline = Phase.Draining, now, now + ctx.settings.drain_grace
        else:
            ctx.stop(server)
            ctx.event(ep.name, EventType.Normal, Reason.RevisionRetired,
                      f"{server.revision} (pid {server.handle.pid}) stopped")


def retire_drained(ctx: StepContext, ep: EndpointState) -> None:
    """Stop a drained revision once the grace passed and the gateway moved its traffic (or `max_drain`)."""
    now = ctx.clock.monotonic()
    for server in ep.servers:
        if server.phase is not Phase.Draining or now < server.deadline:
            continue
        if ctx.route_applied(ep.name) or now >= server.since + ctx.settings.max_drain:
            ctx.stop(server)
            ctx.event(ep.name, EventType.Normal, Reason.RevisionRetired,
                      f"{server.revision} (pid {server.handle.pid}) drained and stopped")


STEPS = (observe_exits, probe_starting, probe_serving, ensure_running, route_traffic, retire_drained)


def reconcile_endpoint(ctx: StepContext, ep: EndpointState) -> None:
    for step in STEPS:
        step(ctx, ep)
