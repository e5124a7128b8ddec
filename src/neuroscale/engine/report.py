"""Status step: from what was observed this tick to conditions, a route entry and a status row.

Pure and table-tested. Conditions follow KServe: `PredictorReady` (a revision
can answer), `IngressReady` (the gateway routes to it) and `Ready`, their
conjunction together with the rollout gate: Ready also requires that the
revision main asks for is in the traffic split (Flux semantics). So a rejected
spec on main leaves the previous revision serving (routes stay ready) while
Ready=False says AdmissionDenied and sync says OutOfSync — Argo CD's "sync
failed, the old state stays". A revision scaled to zero is still ready, as
in Knative: the gateway holds the next request while a replica starts; one
an admin unloaded (`engine.unloads`) is not (PredictorReady=False
ModelUnloaded), and its route is not ready, so the gateway answers 503 at once.
`FieldsHonoured` says which fields the embedded engine does not act on; it is
informational and never part of Ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from neuroscale.engine.backoff import BackoffPolicy, FailureRecord
from neuroscale.engine.desired import Desired, Rejected
from neuroscale.engine.limits import Enforcement
from neuroscale.engine.routes import RouteEntry, TrafficEntry
from neuroscale.engine.state import EndpointState, Phase
from neuroscale.spec.serving import ServingSpec, Unhonoured
from neuroscale.status.conditions import (
    Condition,
    ConditionType,
    aggregate_ready,
    false,
    set_condition,
    true,
    unknown,
)
from neuroscale.status.model import EndpointStatus, RevisionTraffic, endpoint_url, health_of, sync_of
from neuroscale.status.reasons import Reason


@dataclass(frozen=True)
class Observation:
    """Everything the status depends on, captured at the end of a tick."""

    desired: Desired
    latest: str | None
    generation: int
    shares: tuple[tuple[str, int], ...]  # the traffic split among routable revisions
    upstreams: Mapping[str, tuple[str, ...]]  # ready replicas per revision in play
    wanted: Mapping[str, int]  # replicas the autoscaler wants per revision in play
    latest_phase: Phase | None  # of the latest revision's most advanced replica
    failure: FailureRecord
    crashloop: bool
    commit: str
    spec: ServingSpec | None = None  # the latest revision's spec
    source_error: str = ""  # main could not be read: what runs stays, Ready says why
    route_applied: bool = True  # the gateway serves the routes document carrying this route
    note: str = ""  # something the platform decided that users should know (a preview stopped at the limit)
    unloaded: str = ""  # an admin unloaded the endpoint: who, and how to load it

    @property
    def serving(self) -> str | None:
        return max(self.shares, key=lambda item: item[1])[0] if self.shares else None

    @property
    def routed(self) -> bool:
        """The gateway has somewhere to send (or hold) requests."""
        return bool(self.shares)

    @property
    def live(self) -> bool:
        """Some revision with a share answers now, or sits at zero by the autoscaler's choice (not an admin's)."""
        return not self.unloaded and any(self.upstreams.get(r) or not self.wanted.get(r, 0) for r, _ in self.shares)


def observe(ep: EndpointState, *, commit: str, policy: BackoffPolicy, source_error: str = "") -> Observation:
    assert ep.desired is not None, "pruned endpoints have no status"
    latest = ep.latest
    in_play = ep.revisions()
    phases = [s.phase for s in ep.servers_of(latest.name)] if latest else []
    return Observation(
        desired=ep.desired,
        latest=latest.name if latest else None,
        generation=latest.target.record.number if latest else 0,
        shares=ep.split.shares,
        upstreams={r.name: tuple(s.handle.upstream for s in ep.servers_of(r.name, phase=Phase.Ready))
                   for r in in_play},
        wanted={r.name: r.scaler.desired for r in in_play},
        latest_phase=Phase.Ready if Phase.Ready in phases else (Phase.Starting if phases else None),
        failure=latest.failure if latest else FailureRecord(),
        crashloop=latest.failure.crashlooping(policy) if latest else False,
        commit=commit,
        spec=latest.target.spec if latest else None,
        source_error=source_error,
        note=ep.evicted,
        unloaded=ep.unloaded,
    )


def _failure(obs: Observation, ctype: ConditionType) -> Condition:
    last = f"{obs.failure.reason}: {obs.failure.message}"
    reason = obs.failure.reason or Reason.ProcessExited
    if obs.crashloop:
        message = (f"{obs.latest} failed {obs.failure.failures} times in a row, back-off "
                   f"{obs.failure.delay:g}s; last failure: {last}")
        return false(ctype, Reason.OOMKilled if reason == Reason.OOMKilled else Reason.CrashLoopBackOff, message,
                     generation=obs.generation)
    return false(ctype, reason, f"{obs.latest}: {obs.failure.message}", generation=obs.generation)


def _describe_split(obs: Observation) -> str:
    parts = []
    for revision, percent in obs.shares:
        replicas = len(obs.upstreams.get(revision, ()))
        if replicas:
            note = ""
        elif obs.wanted.get(revision, 0):
            note = " (no ready replica: requests wait while one starts)"
        else:
            note = " (scaled to zero: the next request starts a replica)"
        parts.append(f"{revision} {percent}%{note}")
    return ", ".join(parts)


def predictor_condition(obs: Observation) -> Condition:
    ctype, gen = ConditionType.PredictorReady, obs.generation
    if obs.unloaded:
        return false(ctype, Reason.ModelUnloaded, obs.unloaded, generation=gen)
    if obs.live:
        if obs.serving == obs.latest and len(obs.shares) == 1:
            return true(ctype, Reason.RevisionReady, f"{_describe_split(obs)} is ready", generation=gen)
        if any(r == obs.latest for r, _ in obs.shares):
            return true(ctype, Reason.CanaryServing, _describe_split(obs), generation=gen)
        return true(ctype, Reason.PreviousRevisionServing, f"{_describe_split(obs)} serves traffic", generation=gen)
    if obs.failure.failures and (obs.crashloop or obs.latest_phase is None):
        return _failure(obs, ctype)
    if obs.latest_phase is Phase.Starting:
        after = f" after failure: {obs.failure.message}" if obs.failure.failures else ""
        return unknown(ctype, Reason.RevisionStarting, f"{obs.latest} is loading its model{after}", generation=gen)
    if isinstance(obs.desired, Rejected):
        return false(ctype, obs.desired.reason, obs.desired.message, generation=gen)
    return unknown(ctype, Reason.PendingRevision, f"{obs.latest or 'a revision'} is about to start", generation=gen)


def rollout_gate(obs: Observation) -> Condition:
    """Is the revision main asks for in the traffic split? Folded into Ready, not stored as its own condition."""
    ctype, gen = ConditionType.Ready, obs.generation
    if obs.source_error:
        return false(ctype, Reason.SourceUnavailable, obs.source_error, generation=gen)
    if isinstance(obs.desired, Rejected):
        still = f"; still serving {_describe_split(obs)}" if obs.routed else ""
        return false(ctype, obs.desired.reason, obs.desired.message + still, generation=gen)
    if obs.latest is None or all(r != obs.latest for r, _ in obs.shares):
        if obs.failure.failures:
            return _failure(obs, ctype)
        return unknown(ctype, Reason.RevisionStarting, f"rolling out {obs.latest}", generation=gen)
    return true(ctype, Reason.Deployed, "", generation=gen)


def ingress_condition(obs: Observation, *, url: str) -> Condition:
    ctype, gen = ConditionType.IngressReady, obs.generation
    if obs.live and obs.route_applied:
        return true(ctype, Reason.RouteReady, f"{url} routes to {_describe_split(obs)}", generation=gen)
    if obs.live:
        return unknown(ctype, Reason.RouteNotReady, f"waiting for the gateway to load the route to {obs.serving}",
                       generation=gen)
    return false(ctype, Reason.RouteNotReady, "no ready revision to route to (the gateway answers 503)",
                 generation=gen)


def honoured_condition(unhonoured: tuple[Unhonoured, ...], *, generation: int) -> Condition:
    ctype = ConditionType.FieldsHonoured
    if not unhonoured:
        return true(ctype, Reason.FieldsHonoured, "the embedded engine acts on every field", generation=generation)
    listed = "; ".join(f"{item.path}: {item.why}" for item in unhonoured)
    return false(ctype, Reason.FieldsNotHonoured, f"not honoured here (the endpoint serves without them): {listed}",
                 generation=generation)


def served_from(spec: ServingSpec | None, commit: str) -> str:
    """Where what a revision runs comes from, as people name it: a preview runs its pull request's head, not main."""
    return f"pull request #{spec.preview_of}" if spec is not None and spec.preview_of else f"main@{commit[:12]}"


def conditions_for(obs: Observation, *, url: str) -> tuple[Condition, ...]:
    predictor = predictor_condition(obs)
    ingress = ingress_condition(obs, url=url)
    ready = aggregate_ready(
        [predictor, rollout_gate(obs), ingress], reason=Reason.Deployed,
        message=f"{_describe_split(obs)} serves {served_from(obs.spec, obs.commit)}", generation=obs.generation,
    )
    honoured = honoured_condition(obs.spec.unhonoured if obs.spec else (), generation=obs.generation)
    return ready, predictor, ingress, honoured


def _limits(spec: ServingSpec | None, enforcement: Enforcement) -> dict[str, str]:
    if spec is None:
        return {}
    found = {}
    if spec.resources.memory_limit:
        found["memory"] = f"{spec.resources.memory_limit}: {enforcement.memory}"
    if spec.resources.cpu_limit:
        found["cpu"] = f"{spec.resources.cpu_limit}: {enforcement.cpu}"
    return found


def _shadow(obs: Observation) -> tuple[str, int] | None:
    """Copy live requests to the latest revision while it has no traffic of its own, if the spec asks to."""
    percent = obs.spec.shadow_percent if obs.spec else 0
    shares = dict(obs.shares)
    if not percent or obs.latest is None or obs.latest not in shares or shares[obs.latest] or len(shares) < 2:
        return None
    return obs.latest, percent


def report(ep: EndpointState, obs: Observation, *, domain: str, gateway_port: int, now: str,
           enforcement: Enforcement) -> tuple[EndpointStatus, RouteEntry]:
    """The status row and route entry for one endpoint; transition times kept from `ep.conditions`."""
    url = endpoint_url(ep.name, ep.namespace, domain=domain, port=gateway_port)
    conditions = tuple(set_condition(ep.conditions, c, now=now) for c in conditions_for(obs, url=url))
    shares = dict(obs.shares)
    in_play = list(dict.fromkeys([*shares, *obs.wanted]))
    traffic = tuple(RevisionTraffic(revision=r, percent=shares.get(r, 0), latest=r == obs.latest,
                                    ready_replicas=len(obs.upstreams.get(r, ())), desired_replicas=obs.wanted.get(r, 0))
                    for r in in_play)
    scaling = obs.spec.scaling if obs.spec else None
    replicas = {} if scaling is None or obs.latest is None else {
        "ready": len(obs.upstreams.get(obs.latest, ())), "desired": obs.wanted.get(obs.latest, 0),
        "min": scaling.min_replicas, "max": scaling.max_replicas}
    status = EndpointStatus(
        name=ep.name, namespace=ep.namespace, url=url,
        sync=sync_of(admitted=not isinstance(obs.desired, Rejected),
                     serving=obs.latest if obs.latest in shares else obs.serving, target=obs.latest),
        health=health_of(conditions), revision=obs.serving or "", conditions=conditions,
        observed_commit=obs.commit, updated_at=now,
        latest_revision="" if isinstance(obs.desired, Rejected) else obs.latest or "",
        traffic=traffic, replicas=replicas, limits=_limits(obs.spec, enforcement),
        preview_of=obs.spec.preview_of if obs.spec else None, note=obs.note,
    )
    ready = conditions[0]
    route = RouteEntry(
        name=ep.name, namespace=ep.namespace, ready=obs.routed and not obs.unloaded,
        traffic=tuple(TrafficEntry(r, p, obs.upstreams.get(r, ())) for r, p in obs.shares),
        reason="" if obs.live else ready.reason, message="" if obs.live else ready.message,
        timeout=obs.spec.timeout if obs.spec else 300.0,
        concurrency=obs.spec.scaling.container_concurrency if obs.spec else 0,
        record=(obs.spec.recording.max_requests, obs.spec.recording.max_bytes, obs.spec.recording.retention_s)
        if obs.spec and obs.spec.recording else None,
        shadow=_shadow(obs),
        auth=obs.spec.api_keys_of if obs.spec else "",
        preview=ep.preview,
    )
    return status, route
