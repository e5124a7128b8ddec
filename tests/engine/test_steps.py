"""Reconcile steps driven by a fake runtime and clock (pure unit tests; real SQLite for events).

The integration tests in test_engine_*.py run the same steps against real model servers.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from neuroscale.db import connect
from neuroscale.engine.autoscaler import DemandHistory, Sample
from neuroscale.engine.backoff import FailureRecord
from neuroscale.engine.desired import Admitted
from neuroscale.engine.revisions import RevisionRecord, spec_digest
from neuroscale.engine.runtime import ExitInfo, ServerHandle
from neuroscale.engine.settings import EngineSettings
from neuroscale.engine.state import EndpointState, Phase, Target
from neuroscale.engine.steps import StepContext, count_servers, reconcile_endpoint
from neuroscale.engine.store import EngineStore
from neuroscale.home import Home
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import to_manifest
from neuroscale.spec.serving import ServingSpec, serving_spec
from neuroscale.status.reasons import Reason

SPEC = serving_spec(to_manifest(EndpointSpec(name="iris", owner="team-a", cost_center="cc-1", storage_uri="/m.joblib")))


@dataclass
class FakeClock:
    now: float = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@dataclass
class FakeRuntime:
    next_pid: int = 100
    ready_pids: set[int] = field(default_factory=set)
    hung_pids: set[int] = field(default_factory=set)
    exits: dict[int, ExitInfo] = field(default_factory=dict)
    signals: list[tuple[int, signal.Signals]] = field(default_factory=list)
    started: list[ServerHandle] = field(default_factory=list)

    rss: dict[int, int] = field(default_factory=dict)
    warming_endpoints: set[str] = field(default_factory=set)  # their kind's spare is importing

    def start(self, spec: ServingSpec, *, revision: str, replica: int = 0) -> ServerHandle:
        self.next_pid += 1
        handle = ServerHandle(spec.name, revision, self.next_pid, 20000 + self.next_pid, 1, Path("/dev/null"),
                              replica=replica)
        self.started.append(handle)
        return handle

    def adopt(self, *, endpoint: str, revision: str, replica: int = 0, pid: int, port: int,
              start_time: int) -> ServerHandle:
        return ServerHandle(endpoint, revision, pid, port, start_time, Path("/dev/null"), replica=replica)

    def memory(self, handle: ServerHandle) -> int | None:
        return self.rss.get(handle.pid, 100 << 20)

    def ready(self, handle: ServerHandle) -> bool:
        return handle.pid in self.ready_pids

    def live(self, handle: ServerHandle) -> bool:
        return handle.pid not in self.hung_pids

    def exited(self, handle: ServerHandle) -> ExitInfo | None:
        return self.exits.get(handle.pid)

    def signal(self, handle: ServerHandle, sig: signal.Signals) -> None:
        self.signals.append((handle.pid, sig))

    def keep_warm(self, specs: Sequence[ServingSpec]) -> None:
        pass

    def warming(self, spec: ServingSpec) -> bool:
        return spec.name in self.warming_endpoints


@dataclass
class World:
    ctx: StepContext
    runtime: FakeRuntime
    clock: FakeClock
    store: EngineStore
    ep: EndpointState
    gateway_moved: bool = True  # what the gateway's acknowledgement says
    demand: dict[str, DemandHistory] = field(default_factory=dict)  # what the gateway's stats say
    other_servers: int = 0  # servers of the platform's other endpoints

    def tick(self, advance: float = 0.05) -> None:
        self.clock.now += advance
        count_servers(self.ctx, [self.ep])
        self.ctx.servers += self.other_servers
        reconcile_endpoint(self.ctx, self.ep)

    def reasons(self) -> list[str]:
        return [e.reason for e in self.store.events(name="iris")]

    def target(self, number: int, spec: ServingSpec = SPEC) -> None:
        self.ep.desired = Admitted("iris", "default", spec, spec_digest(spec))
        self.ep.take(Target(RevisionRecord("iris", number, spec_digest(spec)), spec), now=self.clock.now)

    @property
    def failure(self) -> FailureRecord:
        assert self.ep.latest is not None
        return self.ep.latest.failure


@pytest.fixture
def world(tmp_path: Path) -> World:
    runtime, clock = FakeRuntime(), FakeClock()
    store = EngineStore(connect(tmp_path / "state.db"))
    settings = EngineSettings(home=Home(tmp_path), drain_grace=0.5, max_drain=10.0, stop_grace=5.0,
                              startup_timeout=10.0)
    world = World(StepContext(settings, runtime, store, clock), runtime, clock, store, EndpointState("iris", "default"))
    world.ctx.route_applied = lambda _name: world.gateway_moved
    world.ctx.demand = lambda revision: world.demand.get(revision, DemandHistory())
    world.target(1)
    return world


def serve_first_revision(world: World) -> ServerHandle:
    world.tick()
    handle = world.runtime.started[-1]
    world.runtime.ready_pids.add(handle.pid)
    world.tick()
    return handle


def test_a_start_waits_while_its_kind_s_spare_imports(world: World) -> None:
    world.runtime.warming_endpoints.add("iris")
    world.tick()
    world.tick()
    assert world.runtime.started == [] and world.ep.servers == []
    world.runtime.warming_endpoints.clear()
    world.tick()
    assert len(world.runtime.started) == 1 and world.ep.servers[0].phase is Phase.Starting


def test_traffic_moves_only_when_ready(world: World) -> None:
    world.tick()
    assert world.ep.serving is None and world.ep.servers[0].phase is Phase.Starting
    world.tick()
    assert world.ep.serving is None and len(world.runtime.started) == 1  # no duplicate while starting
    first = serve_first_revision(world)
    assert world.ep.serving == "iris-predictor-00001"
    assert world.reasons() == [Reason.RevisionStarting, Reason.RevisionReady, Reason.TrafficSwitched]
    assert first.pid in world.runtime.ready_pids


def test_spec_change_switches_then_drains_the_old_revision(world: World) -> None:
    old = serve_first_revision(world)
    world.target(2, SPEC.model_copy(update={"storage_uri": "/m2.joblib"}))
    world.tick()
    new = world.runtime.started[-1]
    assert new.revision == "iris-predictor-00002" and world.ep.serving == "iris-predictor-00001"
    world.tick()
    assert world.ep.serving == "iris-predictor-00001" and world.runtime.signals == []
    world.runtime.ready_pids.add(new.pid)
    world.tick()
    assert world.ep.serving == "iris-predictor-00002"
    assert [s.phase for s in world.ep.servers] == [Phase.Draining, Phase.Ready]
    world.tick(0.1)
    assert world.runtime.signals == []  # still draining
    world.tick(0.5)
    assert world.runtime.signals == [(old.pid, signal.SIGTERM)]
    world.tick(5.1)
    assert world.runtime.signals[-1] == (old.pid, signal.SIGKILL)
    world.runtime.exits[old.pid] = ExitInfo(Reason.ProcessExited, "model server exited with code 0")
    world.tick()
    assert [s.handle.pid for s in world.ep.servers] == [new.pid]
    assert Reason.ProcessExited not in world.reasons()  # an expected exit is not a failure


def test_killed_server_restarts_immediately(world: World) -> None:
    first = serve_first_revision(world)
    world.runtime.exits[first.pid] = ExitInfo(Reason.ProcessExited, "model server was killed by SIGKILL")
    world.tick()
    assert len(world.runtime.started) == 2 and world.failure.failures == 1
    assert world.reasons()[-2:] == [Reason.ProcessExited, Reason.Restarted]


def test_repeated_failures_back_off(world: World) -> None:
    load_failed = ExitInfo(Reason.ModelLoadFailed, "cannot unpickle /m.joblib")
    world.tick()
    world.runtime.exits[world.runtime.started[-1].pid] = load_failed
    world.tick()
    assert len(world.runtime.started) == 2  # first restart is immediate
    world.runtime.exits[world.runtime.started[-1].pid] = load_failed
    world.tick()
    assert len(world.runtime.started) == 2 and Reason.CrashLoopBackOff in world.reasons()
    world.tick(0.5)
    assert len(world.runtime.started) == 2  # back-off 1 s not over
    world.tick(0.6)
    assert len(world.runtime.started) == 3


def test_startup_timeout_is_a_failure(world: World) -> None:
    world.tick()
    world.tick(10.1)
    assert world.runtime.signals == [(world.runtime.started[0].pid, signal.SIGTERM)]
    assert world.failure.reason == Reason.StartupTimeout and Reason.StartupTimeout in world.reasons()


def test_pruned_endpoint_stops_everything(world: World) -> None:
    first = serve_first_revision(world)
    world.ep.pruned, world.ep.desired, world.ep.latest, world.ep.rolled_out = True, None, None, None
    world.tick()
    assert world.runtime.signals == [(first.pid, signal.SIGTERM)] and len(world.runtime.started) == 1
    world.runtime.exits[first.pid] = ExitInfo(Reason.ProcessExited, "exited with code 0")
    world.tick()
    assert world.ep.servers == []


def kill_serving_server(world: World, *, after: float) -> None:
    """Let the newest server become ready, keep it serving `after` seconds, then SIGKILL it."""
    server = world.runtime.started[-1]
    world.runtime.ready_pids.add(server.pid)
    world.tick()
    world.clock.now += after
    world.runtime.exits[server.pid] = ExitInfo(Reason.ProcessExited, "model server was killed by SIGKILL")
    world.tick()


def test_a_server_killed_after_serving_a_while_restarts_at_once_every_time(world: World) -> None:
    serve_first_revision(world)
    stable = world.ctx.settings.backoff.stable_after
    for kills in range(1, 6):  # five external SIGKILLs in about a minute
        kill_serving_server(world, after=stable + 0.1)
        assert len(world.runtime.started) == 1 + kills, f"kill {kills} was not restarted in the same tick"
    assert Reason.CrashLoopBackOff not in world.reasons()


def test_a_server_that_dies_soon_after_ready_backs_off(world: World) -> None:
    serve_first_revision(world)
    for _ in range(2):
        kill_serving_server(world, after=0.1)
    assert len(world.runtime.started) == 2  # the second quick death waits out its back-off
    assert Reason.CrashLoopBackOff in world.reasons()
    world.clock.now += world.failure.delay
    world.tick()
    assert len(world.runtime.started) == 3


def test_serving_revision_is_kept_alive_while_the_new_one_fails(world: World) -> None:
    old = serve_first_revision(world)
    world.target(2, SPEC.model_copy(update={"storage_uri": "/corrupt.joblib"}))
    load_failed = ExitInfo(Reason.ModelLoadFailed, "cannot unpickle /corrupt.joblib")
    for _ in range(2):
        world.tick()
        world.runtime.exits[world.runtime.started[-1].pid] = load_failed
        world.tick()
    assert world.failure.crashlooping(world.ctx.settings.backoff) and world.ep.serving == "iris-predictor-00001"
    world.runtime.exits[old.pid] = ExitInfo(Reason.ProcessExited, "model server was killed by SIGKILL")
    world.tick()
    restarted = world.runtime.started[-1]
    assert restarted.revision == "iris-predictor-00001" and restarted.pid != old.pid


@pytest.mark.parametrize(("gateway_confirms", "waited", "stopped"),
                         [(True, 0.6, True), (False, 0.6, False), (False, 10.1, True)],
                         ids=["confirmed", "unconfirmed", "unconfirmed-past-max-drain"])
def test_drain_waits_for_the_gateway(world: World, gateway_confirms: bool, waited: float, stopped: bool) -> None:
    old = serve_first_revision(world)
    world.target(2, SPEC.model_copy(update={"storage_uri": "/m2.joblib"}))
    world.tick()
    world.runtime.ready_pids.add(world.runtime.started[-1].pid)
    world.gateway_moved = gateway_confirms
    world.tick()
    world.tick(waited)
    assert ((old.pid, signal.SIGTERM) in world.runtime.signals) is stopped


def test_a_hung_serving_server_is_killed_after_consecutive_failed_liveness_probes(world: World) -> None:
    server = serve_first_revision(world)
    period, needed = world.ctx.settings.liveness_period, world.ctx.settings.liveness_failures
    world.runtime.hung_pids.add(server.pid)
    for _ in range(needed - 1):
        world.tick(period)
    assert (server.pid, signal.SIGKILL) not in world.runtime.signals  # not yet: one bad probe is not enough
    world.tick(period)
    assert (server.pid, signal.SIGKILL) in world.runtime.signals
    assert Reason.LivenessProbeFailed in world.reasons()
    world.runtime.exits[server.pid] = ExitInfo(Reason.ProcessExited, "model server was killed by SIGKILL")
    world.tick()
    assert len(world.runtime.started) == 2  # restarted at once: it had been serving


def test_a_probe_that_recovers_resets_the_count(world: World) -> None:
    server = serve_first_revision(world)
    period, needed = world.ctx.settings.liveness_period, world.ctx.settings.liveness_failures
    for _ in range(3):
        world.runtime.hung_pids.add(server.pid)
        for _ in range(needed - 1):
            world.tick(period)
        world.runtime.hung_pids.discard(server.pid)
        world.tick(period)
    assert world.runtime.signals == []


def test_at_most_max_starting_servers_start_at_once(world: World) -> None:
    world.ctx.settings = replace(world.ctx.settings, max_starting=2)
    world.target(1, scaled(min_replicas=3, max_replicas=3))
    world.tick()
    world.tick()
    assert len(world.runtime.started) == 2
    world.runtime.ready_pids.add(world.runtime.started[0].pid)
    world.tick()
    world.tick()
    assert len(world.runtime.started) == 3


def test_with_many_servers_the_probe_period_stretches_to_the_platform_s_probe_rate(world: World) -> None:
    server = serve_first_revision(world)
    settings = world.ctx.settings
    world.other_servers = 499  # 500 servers / 50 probes a second = one probe of each per 10 s
    stretched = 500 / settings.probe_rate
    assert stretched > settings.liveness_period
    world.runtime.hung_pids.add(server.pid)
    for _ in range(settings.liveness_failures):
        world.tick(stretched - 0.1)
        world.tick(0.1)
    assert (server.pid, signal.SIGKILL) in world.runtime.signals
    [killed] = [e for e in world.store.events(name="iris") if e.reason == Reason.LivenessProbeFailed]
    assert f"probes {stretched:g}s apart" in killed.message


def test_a_stretched_probe_period_still_waits_for_every_failure(world: World) -> None:
    server = serve_first_revision(world)
    world.other_servers = 499
    world.runtime.hung_pids.add(server.pid)
    for _ in range(world.ctx.settings.liveness_failures):
        world.tick(world.ctx.settings.liveness_period)
    assert world.runtime.signals == [], "probes 2 s apart would have killed it; at 500 servers they are 10 s apart"


def scaled(**scaling: object) -> ServingSpec:
    return SPEC.model_copy(update={"scaling": SPEC.scaling.model_copy(update=scaling)})


def make_ready(world: World) -> None:
    for handle in world.runtime.started:
        world.runtime.ready_pids.add(handle.pid)
    world.tick()


def test_min_replicas_start_that_many_processes(world: World) -> None:
    world.target(1, scaled(min_replicas=2, max_replicas=3))
    world.tick()
    assert [h.replica for h in world.runtime.started] == [0, 1]
    make_ready(world)
    assert len(world.ep.servers_of("iris-predictor-00001", phase=Phase.Ready)) == 2


def busy(world: World, revision: str, *, concurrency: float, seconds: float) -> DemandHistory:
    """Gateway demand: `concurrency` requests in flight for `seconds`, sampled every 0.25 s."""
    history = world.demand.setdefault(revision, DemandHistory())
    last = history.samples[-1] if history.samples else Sample(world.clock.now, 0, 0)
    steps = int(seconds / 0.25)
    for step in range(1, steps + 1):
        history.add(Sample(last.at + step * 0.25, last.requests + step * concurrency,
                           last.busy + step * 0.25 * concurrency))
    return history


def test_load_scales_up_then_idle_scales_back_down(world: World) -> None:
    world.target(1, scaled(min_replicas=1, max_replicas=3, target=2.0, stable_window=4.0, panic_window=1.0))
    serve_first_revision(world)
    busy(world, "iris-predictor-00001", concurrency=6, seconds=2)
    world.clock.now += 2
    world.tick()
    assert world.ep.latest is not None and world.ep.latest.scaler.desired == 3
    assert len(world.runtime.started) == 3 and Reason.Scaled in world.reasons()
    make_ready(world)
    busy(world, "iris-predictor-00001", concurrency=0, seconds=10)
    for _ in range(4):
        world.tick(5)
    assert world.ep.latest.scaler.desired == 1
    assert sum(1 for pid, sig in world.runtime.signals if sig is signal.SIGTERM) == 2


def test_decisions_are_a_period_apart_but_held_requests_are_decided_at_once(world: World) -> None:
    world.target(1, scaled(min_replicas=0, max_replicas=3, target=2.0, stable_window=4.0, panic_window=1.0))
    serve_first_revision(world)
    world.tick(0.3)  # a decision: the next one is autoscale_period (0.25 s) later
    busy(world, "iris-predictor-00001", concurrency=6, seconds=2)
    world.tick(0.05)
    assert world.ep.latest is not None and world.ep.latest.scaler.desired == 1, "decided again within the period"
    world.tick(0.25)
    assert world.ep.latest.scaler.desired == 3
    world.ep.latest.scaler.desired, world.ep.latest.scaler.next_decision = 0, world.clock.now + 100
    history = world.demand["iris-predictor-00001"]
    history.add(Sample(world.clock.now, history.samples[-1].requests + 1, history.samples[-1].busy, waiting=1))
    world.tick(0.01)
    assert world.ep.latest.scaler.desired >= 1, "a held request is not kept waiting for the next period"


def test_min_zero_scales_to_zero_when_idle_and_back_on_waiting_demand(world: World) -> None:
    world.target(1, scaled(min_replicas=0, stable_window=2.0, panic_window=0.5))
    first = serve_first_revision(world)
    assert world.ep.latest is not None and world.ep.latest.scaler.desired == 1  # initial scale 1, like Knative
    world.tick(2.5)
    world.tick(1.0)
    assert world.ep.latest.scaler.desired == 0 and (first.pid, signal.SIGTERM) in world.runtime.signals
    world.runtime.exits[first.pid] = ExitInfo(Reason.ProcessExited, "exited with code 0")
    world.tick()
    assert world.ep.servers == [] and world.ep.split.shares == (("iris-predictor-00001", 100),), "still routable"
    history = world.demand.setdefault("iris-predictor-00001", DemandHistory())
    history.add(Sample(world.clock.now, 1, 0.0, waiting=1))
    world.tick()
    assert len(world.runtime.started) == 2 and world.ep.latest.scaler.desired == 1


def test_canary_splits_then_promotion_retires_the_baseline(world: World) -> None:
    old = serve_first_revision(world)
    world.target(2, SPEC.model_copy(update={"storage_uri": "/m2.joblib", "canary_traffic_percent": 20}))
    world.tick()
    assert world.ep.split.shares == (("iris-predictor-00001", 100),), "no traffic before the canary is ready"
    make_ready(world)
    assert world.ep.split.shares == (("iris-predictor-00002", 20), ("iris-predictor-00001", 80))
    world.tick(2)
    assert not [s for s in world.runtime.signals if s[0] == old.pid], "the baseline keeps serving its share"
    world.target(2, SPEC.model_copy(update={"storage_uri": "/m2.joblib", "canary_traffic_percent": None}))
    world.tick()
    assert world.ep.split.shares == (("iris-predictor-00002", 100),)
    world.tick(0.6)
    assert (old.pid, signal.SIGTERM) in world.runtime.signals
    assert len(world.runtime.started) == 2, "promotion does not restart the canary"


def test_a_canary_that_never_becomes_ready_gets_no_traffic(world: World) -> None:
    serve_first_revision(world)
    world.target(2, SPEC.model_copy(update={"storage_uri": "/bad.joblib", "canary_traffic_percent": 50}))
    for _ in range(3):
        world.tick()
        world.runtime.exits[world.runtime.started[-1].pid] = ExitInfo(Reason.ModelLoadFailed, "bad pickle")
        world.tick(2)
    assert world.ep.split.shares == (("iris-predictor-00001", 100),)


def test_a_process_over_its_memory_limit_is_killed_and_reported_oom(world: World) -> None:
    server = serve_first_revision(world)
    world.runtime.rss[server.pid] = 3 << 30
    world.tick(0.3)
    assert (server.pid, signal.SIGKILL) in world.runtime.signals
    world.runtime.exits[server.pid] = ExitInfo(Reason.ProcessExited, "model server was killed by SIGKILL")
    world.tick()
    assert Reason.OOMKilled in world.reasons() and world.failure.reason == Reason.OOMKilled
    assert "over the 1024Mi memory limit while serving" in world.failure.message


def test_an_evicted_preview_stays_at_zero_until_a_request_waits_for_it(world: World) -> None:
    world.target(1, scaled(min_replicas=0))
    first = serve_first_revision(world)
    world.ep.evicted = "stopped: over the preview limit"
    world.tick()
    assert world.ep.latest is not None and world.ep.latest.scaler.desired == 0
    world.tick(0.6)  # drained, then stopped
    assert (first.pid, signal.SIGTERM) in world.runtime.signals
    history = world.demand.setdefault("iris-predictor-00001", DemandHistory())
    history.add(Sample(world.clock.now, 1, 0.0, waiting=1))
    world.tick()
    assert world.ep.evicted == "" and world.ep.latest.scaler.desired == 1


def test_a_revision_repaired_in_place_gets_its_traffic_back(world: World) -> None:
    """Its model file was corrupted and restored: the first ready replica ends the crash loop's exile."""
    served = serve_first_revision(world)
    world.runtime.exits[served.pid] = ExitInfo(Reason.KilledBySignal, "killed by SIGKILL")
    load_failed = ExitInfo(Reason.ModelLoadFailed, "cannot unpickle /m.joblib")
    for _ in range(20):
        world.tick()
        world.runtime.exits.setdefault(world.runtime.started[-1].pid, load_failed)
        if world.failure.crashlooping(world.ctx.settings.backoff):
            break
    world.tick()
    assert world.failure.crashlooping(world.ctx.settings.backoff) and world.ep.serving is None
    world.tick(advance=world.failure.delay + 0.1)  # the restart after the back-off loads the restored file
    world.runtime.ready_pids.add(world.runtime.started[-1].pid)
    world.tick()
    assert world.ep.serving == "iris-predictor-00001"
