"""The reconcile loop: poll main, apply the desired state, run the steps, write status once.

One thread, one tick every `settings.tick` (50 ms): process deaths are seen
within a tick and start-up probes run at that pace, while main is polled every
`settings.interval`. Status rows and the routes file are written at the end of
a tick and only when they changed. On start the loop adopts the model servers a
previous run left (same pid, same /proc start time, healthy) and kills any
other server of this home, so a restart neither duplicates nor orphans.

Each tick first carries out admins' load/unload orders the gateway recorded
(`engine.unloads`): an unloaded endpoint keeps no replica until an admin loads it.

After the steps, each tick asks the runtime to keep one warm spare (`engine.spares`)
per kind of revision in play, so a held request, a new replica, a healed crash
and the next revision a merge brings wait for a model load rather than for imports.

Because status rows change only when something changes, the loop also
publishes a heartbeat after completed ticks (every `settings.heartbeat`
seconds, and at once when a failing tick recovers): readers turn statuses
Unknown when it goes stale, which is how a hung or dead reconciler shows.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from neuroscale.engine import procfs
from neuroscale.engine.autoscaler import ScalerState
from neuroscale.engine.clock import Clock, iso
from neuroscale.engine.demand import DemandReader
from neuroscale.engine.desired import Admitted, Desired, desired_state
from neuroscale.engine.gateway_ack import GatewayAck
from neuroscale.engine.limits import Enforcement
from neuroscale.engine.previews import PreviewSource, desired_previews, longest_idle, sources
from neuroscale.engine.report import Observation, observe, report, served_from
from neuroscale.engine.revisions import plan_revision
from neuroscale.engine.routes import RouteEntry, RoutesWriter
from neuroscale.engine.runtime import ServerHandle
from neuroscale.engine.settings import EngineSettings
from neuroscale.engine.source import MAIN, SourceRepo, fetch
from neuroscale.engine.state import EndpointState, Phase, RevisionState, Server, Target
from neuroscale.engine.steps import Runtime, StepContext, count_servers, reconcile_endpoint
from neuroscale.engine.store import EngineStore
from neuroscale.engine.traffic import Split
from neuroscale.engine.unloads import Unloads, unloaded_message
from neuroscale.db import write_transaction
from neuroscale.errors import NeuroScaleError, NotFound
from neuroscale.gitops.provider import PullRequest
from neuroscale.identity.api_keys import ApiKeyStore
from neuroscale.model_orders import Action, Order
from neuroscale.status.heartbeat import Heartbeat
from neuroscale.status.model import EndpointStatus, EventType, RevisionTraffic
from neuroscale.status.reasons import Reason

log = logging.getLogger("neuroscale.engine")


@dataclass
class _Stray:
    """A model server of this home that nobody wants: SIGTERM sent, SIGKILL at `deadline`."""

    handle: ServerHandle
    deadline: float


def endpoint_of_revision(revision: str) -> str:
    return revision.rsplit("-predictor-", 1)[0]


class Reconciler:
    """The embedded control plane for one platform home; `run` until `stop` is set."""

    def __init__(self, settings: EngineSettings, *, repo: SourceRepo, store: EngineStore, runtime: Runtime,
                 clock: Clock, enforcement: Enforcement,
                 pulls: Callable[[], Sequence[PullRequest]] = tuple) -> None:
        self.settings = settings
        self.repo = repo
        self.pulls = pulls  # open pull requests (previews run their heads)
        self._previewed: tuple[PreviewSource, ...] | None = None  # None: apply the previews on the next poll
        self.store = store
        self.runtime = runtime
        self.clock = clock
        self.enforcement = enforcement
        self.routes = RoutesWriter(settings.home.routes_file, domain=settings.domain)
        self.gateway = GatewayAck(settings.home.routes_applied_file)
        self.demand = DemandReader(settings.home.gateway_stats_file)
        self.unloads = Unloads(store.conn, settings.home.model_orders_dir)
        self.ctx = StepContext(settings=settings, runtime=runtime, store=store, clock=clock,
                               route_applied=lambda name: self.gateway.applied(self.routes.stamp_of(name)),
                               demand=self.demand.history)
        self.endpoints: dict[str, EndpointState] = {}
        #: Per endpoint, the last route entry and the observation it was made from; and the observation the
        #: last status check was made from. An endpoint whose observation did not change since the previous
        #: tick has the same route and status, so `publish` skips building them (most ticks, most endpoints).
        self._routed: dict[str, tuple[Observation, RouteEntry]] = {}
        self._checked: dict[str, tuple[Observation, bool]] = {}
        self.strays: list[_Stray] = []
        self.commit = ""
        self.digest = ""
        self.source_error = ""
        self._next_poll = 0.0
        self._next_beat = 0.0
        self._tick_error = ""
        self.started_at = iso(clock.time())
        self.observed_at = ""

    # --- start-up: adopt what a previous run left, kill the rest -------------------------------

    def adopt(self) -> None:
        now = self.clock.monotonic()
        statuses = self.store.saved_endpoints()
        for status in statuses:
            self.endpoints[status.name] = EndpointState(status.name, status.namespace,
                                                        conditions=status.conditions,
                                                        unloaded=self.unloads.message(status.name),
                                                        preview=status.preview_of is not None)
        adopted: set[int] = set()
        self.store.forget_shared_models()  # never adopted (`engine.runtime`): their processes end with the engine
        for row in self.store.processes():
            handle = self.runtime.adopt(endpoint=row.endpoint, revision=row.revision, replica=row.replica,
                                        pid=row.pid, port=row.port, start_time=row.start_time)
            ep = self.endpoints.setdefault(row.endpoint, EndpointState(row.endpoint, "default"))
            taken = any(s.handle.replica == row.replica for s in ep.servers_of(row.revision))
            if not taken and self._ours(row.pid, row.start_time) and self.runtime.ready(handle):
                ep.servers.append(Server(handle, Phase.Ready, now, now))
                adopted.add(row.pid)
                self.ctx.event(row.endpoint, EventType.Normal, Reason.RevisionAdopted,
                               f"{row.revision} replica {row.replica} (pid {row.pid}, port {row.port}) adopted "
                               "after a restart")
            else:
                self.store.remove_process(row.pid)
        for status in statuses:
            self._adopt_split(self.endpoints[status.name], status.traffic, now=now)
        for proc in procfs.serving_processes(self.settings.home.root):
            if proc.pid not in adopted:
                self._kill_stray(proc.pid, proc.start_time, proc.revision, now=now)

    def _adopt_split(self, ep: EndpointState, traffic: tuple[RevisionTraffic, ...], *, now: float) -> None:
        """Revisions that served before the restart keep their share until main's spec is read again."""
        shares = []
        for entry in traffic:
            kept = self.store.revision(entry.revision)
            if kept is None or not ep.servers_of(entry.revision, phase=Phase.Ready) or not entry.percent:
                continue
            revision = RevisionState(Target(*kept), ScalerState(desired=len(ep.servers_of(entry.revision)),
                                                                 last_demand=now), was_ready=True)
            if entry.latest:
                ep.latest = revision
            else:
                ep.rolled_out = revision
            shares.append((entry.revision, entry.percent))
        if ep.rolled_out is None and ep.latest is not None:
            ep.rolled_out = ep.latest
        ep.split = Split(tuple(shares), ep.rolled_out.name if ep.rolled_out else None)

    def _ours(self, pid: int, start_time: int) -> bool:
        return procfs.is_alive(pid, start_time) and procfs.is_server_of(procfs.cmdline(pid), self.settings.home.root)

    def _kill_stray(self, pid: int, start_time: int, revision: str, *, now: float) -> None:
        endpoint = endpoint_of_revision(revision)
        handle = self.runtime.adopt(endpoint=endpoint, revision=revision, pid=pid, port=0, start_time=start_time)
        self.runtime.signal(handle, signal.SIGTERM)
        self.strays.append(_Stray(handle, now + self.settings.stop_grace))
        self.ctx.event(endpoint, EventType.Warning, Reason.OrphanKilled,
                       f"{revision or 'model server'} (pid {pid}) was not adopted and was stopped")

    def _reap_strays(self) -> None:
        now = self.clock.monotonic()
        for stray in list(self.strays):
            if self.runtime.exited(stray.handle) is not None:
                self.strays.remove(stray)
            elif now >= stray.deadline:
                self.runtime.signal(stray.handle, signal.SIGKILL)
                stray.deadline = now + self.settings.stop_grace

    # --- source and admission --------------------------------------------------------------------

    def poll_source(self) -> None:
        """Follow main; on failure keep what runs and say why (SourceUnavailable), logging once."""
        try:
            commit = self.repo.resolve(MAIN)
            if commit is None:
                raise NotFound(f"no {MAIN} branch in {self.settings.home.remote}",
                               fix="create the platform with `neuroscale up`")
            if commit != self.commit:
                artifact = fetch(self.repo, commit)
                desired = (desired_state(artifact, bundled=self.settings.admission)
                           if artifact.digest != self.digest else None)
                self.commit = commit  # only once fully read, so a failure is retried on the next poll
                if desired is not None:
                    self.apply(desired)
                    self.digest = artifact.digest
                    self._previewed = None  # a name main took or freed changes which previews may run (and
                    # `()` would read as "still none open" when the merge that changed main closed the last one)
            error = ""
        except NeuroScaleError as exc:
            error = f"cannot read {MAIN}: {exc.message}"
        if error and error != self.source_error:
            log.warning("%s", error)
        self.source_error = error
        if self.commit:
            self.poll_previews()

    def poll_previews(self) -> None:
        """Run what open pull requests propose; a failure to read them keeps the previews that run."""
        try:
            found = tuple(sources(self.pulls()))
            if found != self._previewed:
                self.apply(desired_previews(self.repo, found, bundled=self.settings.admission), previews=True)
                self._previewed = found
        except (NeuroScaleError, sqlite3.Error) as exc:
            log.warning("cannot read open pull requests for previews: %s", exc)

    def apply(self, desired: dict[str, Desired], *, previews: bool = False) -> None:
        """Take main's endpoints (or the previews of open pull requests); prune those of that kind now absent."""
        for name, want in desired.items():
            ep = self.endpoints.setdefault(name, EndpointState(
                name, want.namespace, preview=previews, unloaded="" if previews else self.unloads.message(name)))
            if previews and not ep.preview and not ep.pruned:
                continue  # an endpoint on main keeps its name; the pull request says why it has no preview
            if ep.desired == want and not ep.pruned and ep.preview == previews:
                continue
            if ep.preview != previews:  # main takes a preview's name, or a preview one a deleted endpoint left
                ep.preview, ep.evicted, ep.unloaded = previews, "", "" if previews else self.unloads.message(name)
            ep.desired, ep.namespace, ep.pruned = want, want.namespace, False
            self._take(ep, want)
        for name, ep in self.endpoints.items():
            if name not in desired and not ep.pruned and ep.preview == previews:
                ep.pruned, ep.desired, ep.latest, ep.rolled_out = True, None, None, None
                ep.split = Split((), None)
                self.store.delete_status(name)
                gone = "its pull request is no longer open" if previews else f"is no longer on main@{self.commit[:12]}"
                self.ctx.event(name, EventType.Normal, Reason.Pruned, f"{name} {gone}; stopping its revisions")
                if not previews:
                    self._revoke_keys(name)
                    self._forget_unload(name)

    def _revoke_keys(self, name: str) -> None:
        """An endpoint deleted from main takes its API keys with it (as Kubernetes collects a deleted owner's
        secrets): an endpoint created later under the same name, perhaps by another team, must not accept them."""
        keys = ApiKeyStore(self.store.conn)
        with write_transaction(self.store.conn):
            revoked = keys.remove_all(name)
            if revoked:
                keys.publish(self.settings.home.api_keys_file)
        if revoked:
            self.ctx.event(name, EventType.Normal, Reason.ApiKeyRevoked,
                           f"{revoked} API key(s) revoked: the endpoint was deleted from main@{self.commit[:12]}")

    def _forget_unload(self, name: str) -> None:
        """An endpoint deleted from main is no longer unloaded: one created later under its name starts loaded."""
        with write_transaction(self.store.conn):
            self.unloads.forget(name)
        self.unloads.refresh()

    def obey_orders(self) -> None:
        """Admins' load and unload orders from the gateway (`engine.unloads`), oldest first, each done once."""
        for item in self.unloads.pending():
            order, ep = item.order, self.endpoints.get(item.order.endpoint)
            if ep is None or ep.preview or ep.pruned:
                log.warning("ignoring the order to %s %s: it is not an endpoint on main", order.action, order.endpoint)
            else:
                with write_transaction(self.store.conn):
                    if self.unloads.record(order):
                        self._announce(order)
                self.unloads.refresh()
                ep.unloaded = self.unloads.message(ep.name)
                if order.action is Action.load:
                    self._wake(ep)
            item.done()

    def _announce(self, order: Order) -> None:
        if order.action is Action.unload:
            self.ctx.event(order.endpoint, EventType.Normal, Reason.ModelUnloaded,
                           f"{unloaded_message(order.endpoint, by=order.by, at=order.at)}; its replicas stop",
                           actor=order.by)
        else:
            self.ctx.event(order.endpoint, EventType.Normal, Reason.ModelLoaded,
                           f"loaded by admin {order.by} at {order.at}: a replica starts", actor=order.by)

    def _wake(self, ep: EndpointState) -> None:
        """A load starts a replica of each revision in play (also of one scaled to zero), as a waiting request would."""
        now = self.clock.monotonic()
        for revision in ep.revisions():
            revision.scaler.desired = max(revision.scaler.desired, 1, revision.target.spec.scaling.min_replicas)
            revision.scaler.last_demand = now

    def _take(self, ep: EndpointState, want: Desired) -> None:
        """Main's spec for `ep`: a new latest revision, new settings for the same one, or a rejection."""
        if not isinstance(want, Admitted):
            self.ctx.event(ep.name, EventType.Warning, want.reason, f"main@{self.commit[:12]}: {want.message}")
            return  # what runs keeps running (Argo CD: the sync failed, the old state stays)
        record, new = plan_revision(self.store.latest_revision(ep.name), endpoint=ep.name, digest=want.digest)
        if new:
            self.store.add_revision(record, spec=want.spec, created_at=iso(self.clock.time()))
            self.ctx.event(ep.name, EventType.Normal, Reason.RevisionCreated,
                           f"{record.name} for {served_from(want.spec, self.commit)}")
        ep.take(Target(record, want.spec), now=self.clock.monotonic())

    # --- the tick -------------------------------------------------------------------------------

    def tick(self) -> None:
        if self.clock.monotonic() >= self._next_poll:
            self.poll_source()
            self._next_poll = self.clock.monotonic() + self.settings.interval
        if self.commit:  # orders name endpoints on main: carried out once it was read
            self.obey_orders()
        self.demand.sample(now=self.clock.monotonic(), wall=self.clock.time())
        count_servers(self.ctx, self.endpoints.values())
        for ep in self.endpoints.values():
            reconcile_endpoint(self.ctx, ep)
        self._reap_strays()
        self._keep_warm()
        self._bound_previews()
        self.demand.forget({r.name for ep in self.endpoints.values() for r in ep.revisions()})
        self.endpoints = {n: ep for n, ep in self.endpoints.items() if not (ep.pruned and not ep.servers)}
        self.publish()

    def _keep_warm(self) -> None:
        """A warm spare (`engine.spares`) or shared processes (`engine.shared`) per kind of revision in play."""
        self.runtime.keep_warm([r.target.spec for ep in self.endpoints.values() for r in ep.revisions()
                                if self.settings.warm_spares or self.settings.shared_runtime])

    def _bound_previews(self) -> None:
        """At most `max_previews` previews run: beyond that, the longest idle ones stop until asked again."""
        running = [(ep.name, ep.latest.scaler.last_demand) for ep in self.endpoints.values()
                   if ep.preview and not ep.evicted and ep.latest is not None and any(s.live for s in ep.servers)]
        for name in longest_idle(running, limit=self.settings.max_previews):
            ep = self.endpoints[name]
            ep.evicted = (f"stopped: more than {self.settings.max_previews} previews were running (the platform's "
                          "limit), this one the longest idle; its next request starts it again")
            self.ctx.event(ep.name, EventType.Normal, Reason.ScaledToZero, ep.evicted)

    def publish(self) -> None:
        """Write the routes file, then changed status rows: once, at the end of the tick.

        Routes go first so `IngressReady` can wait for the gateway to serve them.
        Nothing is written before main was read once: the last routes file keeps
        serving what runs rather than being replaced by an empty table.
        """
        if not self.commit:
            return
        now = iso(self.clock.time())
        observed = [(ep, observe(ep, commit=self.commit, policy=self.settings.backoff, source_error=self.source_error))
                    for ep in self.endpoints.values() if not ep.pruned and ep.desired is not None]
        routed = {ep.name: cached if (cached := self._routed.get(ep.name)) and cached[0] == obs
                  else (obs, self._report(ep, obs, now=now)[1]) for ep, obs in observed}
        self._routed = routed
        self.routes.write([entry for _, entry in routed.values()])
        if self.routes.repaired:
            self.ctx.event("", EventType.Warning, Reason.RoutesRewritten,
                           f"{self.settings.home.routes_file} was changed outside the reconciler; rewritten "
                           "from the current state so the gateway routes to what runs")
        self.gateway.refresh()
        checked = {}
        for ep, obs in observed:
            applied = self.gateway.applied(self.routes.stamp_of(ep.name))
            checked[ep.name] = (obs, applied)
            if self._checked.get(ep.name) == (obs, applied):
                continue
            status, _ = self._report(ep, replace(obs, route_applied=applied), now=now)
            comparable = _comparable(status.to_dict())
            if comparable != ep.saved:
                self.store.save_status(status)
                ep.saved, ep.conditions = comparable, status.conditions
        self._checked = checked

    def _report(self, ep: EndpointState, obs: Observation, *, now: str) -> tuple[EndpointStatus, RouteEntry]:
        return report(ep, obs, domain=self.settings.domain, gateway_port=self.settings.gateway_port, now=now,
                      enforcement=self.enforcement)

    # --- heartbeat --------------------------------------------------------------------------------

    def beat(self, *, error: str = "", stopped: bool = False) -> None:
        """Publish a heartbeat: after a completed tick (rate-limited), a failed one, or the final stop."""
        now = self.clock.monotonic()
        if not error:
            self.observed_at = iso(self.clock.time())
        if not (stopped or error or self._tick_error or now >= self._next_beat):
            return
        self._tick_error, self._next_beat = error, now + self.settings.heartbeat
        self.store.beat(Heartbeat(pid=os.getpid(), started_at=self.started_at, observed_at=self.observed_at,
                                  interval=self.settings.heartbeat, error=error,
                                  stopped_at=iso(self.clock.time()) if stopped else ""))

    def run(self, stop: threading.Event) -> None:
        self.adopt()
        while not stop.is_set():
            try:
                self.tick()
                self.beat()
            except Exception as exc:  # a control loop outlives one bad tick; the traceback goes to the engine log
                log.exception("reconcile tick failed; retrying")
                self._beat_failure(exc)
                stop.wait(1.0)
            stop.wait(self.settings.tick)
        self._beat_failure(None, stopped=True)

    def _beat_failure(self, exc: Exception | None, *, stopped: bool = False) -> None:
        """Record a failed tick (or the stop) in the heartbeat, if the store can still be written."""
        try:
            self.beat(error=f"{type(exc).__name__}: {exc}"[:500] if exc else "", stopped=stopped)
        except Exception:  # the store itself is what fails (disk full, locked): the log has the tick's error
            log.exception("could not publish the heartbeat")


def _comparable(status: dict[str, Any]) -> dict[str, Any]:
    """The status without its timestamps: a change worth writing."""
    out = {k: v for k, v in status.items() if k != "updated_at"}
    out["conditions"] = [{k: v for k, v in c.items() if k != "last_transition"} for c in status["conditions"]]
    return out
