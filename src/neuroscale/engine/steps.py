"""The reconcile steps for one endpoint, run in order on every tick.

Each step is small and owns one part of the story (and so one part of the
conditions computed afterwards in `report`):

1. `observe_exits`   — processes that died: event, failure record, backoff for crash loops (PredictorReady).
2. `probe_starting`  — start-up probes of new processes; start-up timeout (PredictorReady).
3. `probe_serving`   — liveness of ready processes: a hung one is killed, so step 1 restarts it.
4. `guard_memory`    — a process above its memory limit is killed and reported OOMKilled.
5. `autoscale`       — replicas each revision in play should have, from the gateway's demand
                       (none while an admin has the endpoint unloaded).
6. `ensure_running`  — start replicas up to that number (a crash-looping revision waits its back-off).
7. `route_traffic`   — the split between latest and rolled-out revision; only routable revisions
                       (ready once, not crash-looping) get traffic (IngressReady).
8. `scale_down`      — replicas beyond the number, and revisions no longer in play, drain.
9. `retire_drained`  — once the gateway moved traffic and the grace passed: SIGTERM, then SIGKILL.

Steps touch the world only through `StepContext` (runtime, store, clock,
demand), so they can be driven by a fake runtime in unit tests and by real
processes in integration tests.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from neuroscale.engine import limits
from neuroscale.engine.autoscaler import DemandHistory, decide
from neuroscale.engine.clock import Clock, iso
from neuroscale.engine.runtime import ExitInfo, ServerHandle, not_ready_info
from neuroscale.engine.settings import EngineSettings
from neuroscale.engine.state import EndpointState, Phase, RevisionState, Server
from neuroscale.engine.store import EngineStore
from neuroscale.engine.traffic import split
from neuroscale.spec.serving import ServingSpec
from neuroscale.status.exits import ExitRecord
from neuroscale.status.model import Event, EventType
from neuroscale.status.reasons import Reason

log = logging.getLogger("neuroscale.engine")


class Runtime(Protocol):
    def start(self, spec: ServingSpec, *, revision: str, replica: int) -> ServerHandle: ...

    def adopt(self, *, endpoint: str, revision: str, replica: int = 0, pid: int, port: int,
              start_time: int) -> ServerHandle: ...

    def ready(self, handle: ServerHandle) -> bool: ...

    def live(self, handle: ServerHandle) -> bool: ...

    def exited(self, handle: ServerHandle) -> ExitInfo | None: ...

    def signal(self, handle: ServerHandle, sig: signal.Signals) -> None: ...

    def memory(self, handle: ServerHandle) -> int | None: ...

    def keep_warm(self, specs: Sequence[ServingSpec]) -> None: ...

    def warming(self, spec: ServingSpec) -> bool: ...


def _no_gateway(_endpoint: str) -> bool:
    return True


def _no_demand(_revision: str) -> DemandHistory:
    return DemandHistory()


@dataclass
class StepContext:
    settings: EngineSettings
    runtime: Runtime
    store: EngineStore
    clock: Clock
    #: Has the gateway loaded the endpoint's current route? (the loop wires the gateway's acknowledgement)
    route_applied: Callable[[str], bool] = _no_gateway
    #: The gateway's demand for a revision (the loop wires the gateway's stats file)
    demand: Callable[[str], DemandHistory] = _no_demand
    #: pid → when its memory may be sampled next
    memory_sampled: dict[int, float] = field(default_factory=dict)
    #: Model servers across the platform, and how many of them are starting (the loop counts them each tick)
    servers: int = 0
    starting: int = 0

    def spread(self, period: float, rate: float) -> float:
        """`period` between two checks of one server, stretched so all servers together stay under `rate`
        checks a second: the engine's idle CPU stays bounded with hundreds of endpoints."""
        return max(period, self.servers / rate)

    def event(self, endpoint: str, etype: EventType, reason: str, message: str, *, actor: str = "") -> None:
        """Record an event (SQLite, for `neuroscale events`) and log it (the engine log); `actor` made the change."""
        self.store.record_event(Event(iso(self.clock.time()), endpoint, etype, reason, message, actor))
        level = logging.WARNING if etype is EventType.Warning else logging.INFO
        log.log(level, "%s %s: %s", endpoint, reason, message)

    def stop(self, server: Server) -> None:
        """SIGTERM now, SIGKILL when `stop_grace` has passed (checked by `observe_exits`)."""
        self.runtime.signal(server.handle, signal.SIGTERM)
        now = self.clock.monotonic()
        server.phase, server.since, server.deadline = Phase.Stopping, now, now + self.settings.stop_grace


def _revision_failed(ctx: StepContext, ep: EndpointState, revision: RevisionState, *, reason: str,
                     message: str, now: float) -> None:
    revision.failure = revision.failure.failed(ctx.settings.backoff, now=now, reason=reason, message=message)
    if revision.failure.crashlooping(ctx.settings.backoff):
        ctx.event(ep.name, EventType.Warning, Reason.CrashLoopBackOff,
                  f"back-off {revision.failure.delay:g}s restarting {revision.name} "
                  f"(failure {revision.failure.failures}): {reason}: {message}")


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
        ctx.store.remove_process(server.handle.pid,
                                 shared_port=server.handle.port if server.handle.host is not None else None)
        ctx.memory_sampled.pop(server.handle.pid, None)
        if not server.live:
            continue  # it was on its way out
        info = server.killed_for or info
        ctx.event(ep.name, EventType.Warning, Reason.OOMKilled if info.reason == Reason.OOMKilled
                  else Reason.ProcessExited, ExitRecord(server.revision, server.handle.pid, info.reason,
                                                        info.message).message())
        revision = ep.revision(server.revision)
        if revision is None:
            continue
        if server.phase is Phase.Ready:  # it was serving a while: self-heal restarts at once
            revision.failure = revision.failure.served_then_died(ctx.settings.backoff, ready_for=now - server.since)
        _revision_failed(ctx, ep, revision, reason=info.reason, message=info.message, now=now)


def probe_starting(ctx: StepContext, ep: EndpointState) -> None:
    for server in ep.servers:
        if server.phase is not Phase.Starting:
            continue
        now = ctx.clock.monotonic()
        if ctx.runtime.ready(server.handle):
            took = now - server.since
            server.phase, server.since = Phase.Ready, now
            revision = ep.revision(server.revision)
            if revision is not None:
                revision.was_ready = True
            ctx.event(ep.name, EventType.Normal, Reason.RevisionReady,
                      f"{server.revision} ready at {server.handle.upstream} after {took:.2f}s")
        elif now >= server.deadline:
            message = not_ready_info(server.handle, timeout=ctx.settings.startup_timeout)
            ctx.stop(server)
            ctx.event(ep.name, EventType.Warning, Reason.StartupTimeout, f"{server.revision}: {message}")
            revision = ep.revision(server.revision)
            if revision is not None:
                _revision_failed(ctx, ep, revision, reason=Reason.StartupTimeout, message=message, now=now)


def probe_serving(ctx: StepContext, ep: EndpointState) -> None:
    """A ready server that stops answering (hung, deadlocked, stopped) is killed; its exit restarts it."""
    now = ctx.clock.monotonic()
    for server in ep.servers:
        if server.phase is not Phase.Ready or now < server.probe_at:
            continue
        period = ctx.spread(ctx.settings.liveness_period, ctx.settings.probe_rate)
        server.probe_at = now + period
        if ctx.runtime.live(server.handle):
            server.probe_failures = 0
            continue
        server.probe_failures += 1
        if server.probe_failures >= ctx.settings.liveness_failures:
            ctx.event(ep.name, EventType.Warning, Reason.LivenessProbeFailed,
                      f"{server.revision} (pid {server.handle.pid}) did not answer {server.probe_failures} "
                      f"liveness probes {period:g}s apart; killing it so it restarts")
            server.killed_for = ExitInfo(Reason.LivenessProbeFailed, (
                f"the platform killed it after {server.probe_failures} liveness probes "
                f"{period:g}s apart went unanswered (hung or stopped while serving)"))
            ctx.runtime.signal(server.handle, signal.SIGKILL)
            server.probe_failures = 0


def guard_memory(ctx: StepContext, ep: EndpointState) -> None:
    """Kill a live server whose resident memory is above its revision's limit, as the kernel's OOM killer would."""
    now = ctx.clock.monotonic()
    for server in ep.servers:
        if not server.live or server.killed_for is not None or now < ctx.memory_sampled.get(server.handle.pid, 0.0):
            continue  # most servers most ticks: checked before the limit's quantity is parsed
        revision = ep.revision(server.revision)
        limit = revision.target.spec.resources.memory_limit_bytes if revision else None
        if limit is None:
            continue
        ctx.memory_sampled[server.handle.pid] = now + ctx.spread(ctx.settings.memory_period, ctx.settings.memory_rate)
        used = ctx.runtime.memory(server.handle)
        if used is not None and used > limit:
            server.killed_for = ExitInfo(Reason.OOMKilled, (
                f"resident memory {limits.human(used)} went over the {limits.human(limit)} memory limit "
                f"while {'loading' if server.phase is Phase.Starting else 'serving'}; raise "
                "resources.limits.memory or make the model smaller"))
            ctx.runtime.signal(server.handle, signal.SIGKILL)


def autoscale(ctx: StepContext, ep: EndpointState) -> None:
    """Replicas per revision in play, decided by the KPA from the gateway's demand; none while unloaded."""
    now = ctx.clock.monotonic()
    for revision in ep.revisions():
        if ep.unloaded:  # an admin's order (`engine.unloads`): no demand starts a replica until they load it
            revision.scaler.desired = 0
            continue
        if not revision.was_ready:  # Knative keeps the initial scale until the revision has been ready
            revision.scaler.last_demand = now
            revision.scaler.desired = max(1, revision.target.spec.scaling.min_replicas)
            continue
        demand = ctx.demand(revision.name)
        if now < revision.scaler.next_decision and not demand.waiting and not ep.evicted:
            continue  # an eviction and held requests are acted on at once
        revision.scaler.next_decision = now + ctx.settings.autoscale_period
        ready = len(ep.servers_of(revision.name, phase=Phase.Ready))
        before = revision.scaler.desired
        if ep.evicted and demand.waiting:
            ep.evicted = ""  # a request came for a stopped preview: it starts again
        after = 0 if ep.evicted else decide(revision.target.spec.scaling, demand, revision.scaler, ready=ready,
                                            now=now, cap=ctx.settings.max_replicas)
        revision.scaler.desired = after
        if after != before:
            ctx.event(ep.name, EventType.Normal, Reason.Scaled, f"{revision.name}: {before} -> {after} replicas")


def _free_slot(ep: EndpointState, revision: str) -> int:
    taken = {s.handle.replica for s in ep.servers if s.revision == revision and s.live}
    return next(slot for slot in range(len(taken) + 1) if slot not in taken)


def count_servers(ctx: StepContext, endpoints: Iterable[EndpointState]) -> None:
    """At the start of a tick: the platform's servers, for this tick's budgets (`spread`, `max_starting`)."""
    servers = [s for ep in endpoints for s in ep.servers]
    ctx.servers, ctx.starting = len(servers), sum(s.phase is Phase.Starting for s in servers)


def ensure_running(ctx: StepContext, ep: EndpointState) -> None:
    """Start replicas up to what the autoscaler wants; a revision in back-off waits for its restart time.

    Each start is forked by the warm spare of its kind (`engine.spares`), so a merge, a held request, a
    new replica and a healed crash wait for a model load rather than for imports; while that spare is
    still importing, the start waits for it. At most `max_starting` servers start at once, platform-wide.
    """
    now = ctx.clock.monotonic()
    for revision in ep.revisions():
        missing = revision.scaler.desired - len(ep.servers_of(revision.name))
        if missing <= 0 or not revision.failure.may_restart(now=now):
            continue
        if (ctx.settings.warm_spares or ctx.settings.shared_runtime) and ctx.runtime.warming(revision.target.spec):
            continue  # its kind's spare or shared process imports: it starts this one a tick or two after
        for _ in range(min(missing, ctx.settings.max_starting - ctx.starting)):
            replica = _free_slot(ep, revision.name)
            try:
                handle = ctx.runtime.start(revision.target.spec, revision=revision.name, replica=replica)
            except OSError as exc:
                message = f"could not start the model server: {exc}"
                ctx.event(ep.name, EventType.Warning, Reason.ProcessExited, f"{revision.name}: {message}")
                _revision_failed(ctx, ep, revision, reason=Reason.ProcessExited, message=message, now=now)
                break
            ctx.store.add_process(pid=handle.pid, endpoint=ep.name, revision=revision.name, replica=replica,
                                  port=handle.port, start_time=handle.start_time, started_at=iso(ctx.clock.time()),
                                  shared=handle.host is not None)
            ep.servers.append(Server(handle, Phase.Starting, now, now + ctx.settings.startup_timeout))
            ctx.starting += 1
            first = not revision.failure.failures and not revision.was_ready and replica == 0
            warm = " in a shared process" if handle.host else " from a warm spare" if handle.warm else ""
            ctx.event(ep.name, EventType.Normal, Reason.RevisionStarting if first else Reason.Restarted,
                      f"{revision.name} replica {replica} started{warm} (pid {handle.pid}, port {handle.port}, "
                      f"log {handle.log_path})")


def routable(ctx: StepContext, revision: RevisionState, *, answering: bool = False) -> bool:
    """May get traffic: it has been ready, and is not in a crash loop, or a replica of it answers now
    (a revision whose model file was repaired comes out of its crash loop with its first ready replica)."""
    return revision.was_ready and (answering or not revision.failure.crashlooping(ctx.settings.backoff))


def route_traffic(ctx: StepContext, ep: EndpointState) -> None:
    """KServe's split between the latest and the rolled-out revision, among routable revisions."""
    latest, rolled = ep.latest, ep.rolled_out
    ok = frozenset(r.name for r in (latest, rolled) if r is not None
                   and routable(ctx, r, answering=bool(ep.servers_of(r.name, phase=Phase.Ready))))
    new = split(latest=latest.name if latest else None, previous=rolled.name if rolled else None,
                canary=latest.target.spec.canary_traffic_percent if latest else None, routable=ok)
    if new.shares != ep.split.shares:
        def described(shares: tuple[tuple[str, int], ...]) -> str:
            return ", ".join(f"{p}% to {r}" for r, p in shares) or "no routable revision"
        was = f" (was {described(ep.split.shares)})" if ep.split.shares else ""
        ctx.event(ep.name, EventType.Normal, Reason.TrafficSwitched, f"{described(new.shares)}{was}")
    ep.split = new
    if new.rolled_out is not None and (rolled is None or new.rolled_out != rolled.name):
        ep.rolled_out = ep.revision(new.rolled_out)


def scale_down(ctx: StepContext, ep: EndpointState) -> None:
    """Drain replicas beyond what each revision wants, and every replica of revisions out of play."""
    now = ctx.clock.monotonic()
    wanted = {r.name: r.scaler.desired for r in ep.revisions()}
    for revision in {s.revision for s in ep.servers if s.live}:
        live = sorted(ep.servers_of(revision), key=lambda s: (s.phase is Phase.Ready, -s.handle.replica))
        extra = len(live) - wanted.get(revision, 0)
        for server in live[:max(extra, 0)]:  # starting ones first, then the highest replica slots
            if server.phase is Phase.Ready and not ep.pruned:
                server.phase, server.since, server.deadline = Phase.Draining, now, now + ctx.settings.drain_grace
            else:
                ctx.stop(server)
                ctx.event(ep.name, EventType.Normal, Reason.RevisionRetired,
                          f"{server.revision} replica {server.handle.replica} (pid {server.handle.pid}) stopped")


def retire_drained(ctx: StepContext, ep: EndpointState) -> None:
    """Stop a drained replica once the grace passed and the gateway moved its traffic (or `max_drain`)."""
    now = ctx.clock.monotonic()
    for server in ep.servers:
        if server.phase is not Phase.Draining or now < server.deadline:
            continue
        if ctx.route_applied(ep.name) or now >= server.since + ctx.settings.max_drain:
            ctx.stop(server)
            ctx.event(ep.name, EventType.Normal, Reason.RevisionRetired,
                      f"{server.revision} replica {server.handle.replica} (pid {server.handle.pid}) drained "
                      "and stopped")


STEPS = (observe_exits, probe_starting, probe_serving, guard_memory, autoscale, ensure_running, route_traffic,
         scale_down, retire_drained)


def reconcile_endpoint(ctx: StepContext, ep: EndpointState) -> None:
    for step in STEPS:
        step(ctx, ep)
