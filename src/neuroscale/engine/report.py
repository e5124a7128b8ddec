"""Status step: from what was observed this tick to conditions, a route entry and a status row.

Pure and table-tested. Conditions follow KServe: `PredictorReady` (a revision
answers), `IngressReady` (the gateway routes to it) and `Ready`, their
conjunction together with the rollout gate: Ready also requires that what
serves is what main asks for (Flux semantics). So a rejected spec on main
leaves the previous revision serving (routes stay ready) while Ready=False
says AdmissionDenied and sync says OutOfSync — Argo CD's "sync failed, the
old state stays".
"""

from __future__ import annotations

from dataclasses import dataclass

from neuroscale.engine.backoff import BackoffPolicy, FailureRecord
from neuroscale.engine.desired import Desired, Rejected
from neuroscale.engine.routes import RouteEntry
from neuroscale.engine.state import EndpointState, Phase
from neuroscale.status.conditions import (
    Condition,
    ConditionType,
    aggregate_ready,
    false,
    set_condition,
    true,
    unknown,
)
from neuroscale.status.model import EndpointStatus, endpoint_url, health_of, sync_of
from neuroscale.status.reasons import Reason


@dataclass(frozen=True)
class Observation:
    """Everything the status depends on, captured at the end of a tick."""

    desired: Desired
    target: str | None
    generation: int
    serving: str | None
    serving_upstream: str | None  # None unless the serving revision has a ready server
    target_phase: Phase | None
    failure: FailureRecord
    crashloop: bool
    commit: str
    source_error: str = ""  # main could not be read: what runs stays, Ready says why
    route_applied: bool = True  # the gateway serves the routes document carrying this route


def observe(ep: EndpointState, *, commit: str, policy: BackoffPolicy, source_error: str = "") -> Observation:
    assert ep.desired is not None, "pruned endpoints have no status"
    target = ep.server_for(ep.target.name) if ep.target else None
    serving = ep.serving_server
    return Observation(
        desired=ep.desired,
        target=ep.target.name if ep.target else None,
        generation=ep.target.record.number if ep.target else 0,
        serving=ep.serving,
        serving_upstream=serving.handle.upstream if serving else None,
        target_phase=target.phase if target else None,
        failure=ep.failure,
        crashloop=ep.failure.crashlooping(policy),
        commit=commit,
        source_error=source_error,
    )


def _failure(obs: Observation, ctype: ConditionType) -> Condition:
    last = f"{obs.failure.reason}: {obs.failure.message}"
    if obs.crashloop:
        message = (f"{obs.target} failed {obs.failure.failures} times in a row, back-off "
                   f"{obs.failure.delay:g}s; last failure: {last}")
        return false(ctype, Reason.CrashLoopBackOff, message, generation=obs.generation)
    return false(ctype, obs.failure.reason, f"{obs.target}: {obs.failure.message}", generation=obs.generation)


def predictor_condition(obs: Observation) -> Condition:
    ctype, gen = ConditionType.PredictorReady, obs.generation
    if obs.serving_upstream is not None:
        if obs.serving == obs.target:
            return true(ctype, Reason.RevisionReady, f"{obs.serving} is ready", generation=gen)
        return true(ctype, Reason.PreviousRevisionServing, f"{obs.serving} serves traffic", generation=gen)
    if obs.failure.failures and (obs.crashloop or obs.target_phase is None):
        return _failure(obs, ctype)
    if obs.target_phase is Phase.Starting:
        after = f" after failure: {obs.failure.message}" if obs.failure.failures else ""
        return unknown(ctype, Reason.RevisionStarting, f"{obs.target} is loading its model{after}", generation=gen)
    if isinstance(obs.desired, Rejected):
        return false(ctype, obs.desired.reason, obs.desired.message, generation=gen)
    return unknown(ctype, Reason.PendingRevision, f"{obs.target or 'a revision'} is about to start", generation=gen)


def rollout_gate(obs: Observation) -> Condition:
    """Is what main asks for what serves? Folded into Ready, not stored as its own condition."""
    ctype, gen = ConditionType.Ready, obs.generation
    if obs.source_error:
        return false(ctype, Reason.SourceUnavailable, obs.source_error, generation=gen)
    if isinstance(obs.desired, Rejected):
        still = f"; still serving {obs.serving}" if obs.serving_upstream else ""
        return false(ctype, obs.desired.reason, obs.desired.message + still, generation=gen)
    if obs.serving != obs.target or obs.serving_upstream is None:
        if obs.failure.failures:
            return _failure(obs, ctype)
        return unknown(ctype, Reason.RevisionStarting, f"rolling out {obs.target}", generation=gen)
    return true(ctype, Reason.Deployed, "", generation=gen)


def ingress_condition(obs: Observation, *, url: str) -> Condition:
    ctype, gen = ConditionType.IngressReady, obs.generation
    if obs.serving_upstream is not None and obs.route_applied:
        return true(ctype, Reason.RouteReady, f"{url} routes to {obs.serving}", generation=gen)
    if obs.serving_upstream is not None:
        return unknown(ctype, Reason.RouteNotReady, f"waiting for the gateway to load the route to {obs.serving}",
                       generation=gen)
    return false(ctype, Reason.RouteNotReady, "no ready revision to route to (the gateway answers 503)",
                 generation=gen)


def conditions_for(obs: Observation, *, url: str) -> tuple[Condition, Condition, Condition]:
    predictor = predictor_condition(obs)
    ingress = ingress_condition(obs, url=url)
    ready = aggregate_ready(
        [predictor, rollout_gate(obs), ingress], reason=Reason.Deployed,
        message=f"{obs.serving} serves main@{obs.commit[:12]}", generation=obs.generation,
    )
    return ready, predictor, ingress


def report(ep: EndpointState, obs: Observation, *, domain: str, gateway_port: int,
           now: str) -> tuple[EndpointStatus, RouteEntry]:
    """The status row and route entry for one endpoint; transition times kept from `ep.conditions`."""
    url = endpoint_url(ep.name, ep.namespace, domain=domain, port=gateway_port)
    conditions = tuple(set_condition(ep.conditions, c, now=now) for c in conditions_for(obs, url=url))
    status = EndpointStatus(
        name=ep.name, namespace=ep.namespace, url=url,
        sync=sync_of(admitted=not isinstance(obs.desired, Rejected), serving=obs.serving, target=obs.target),
        health=health_of(conditions), revision=obs.serving or "", conditions=conditions,
        observed_commit=obs.commit, updated_at=now,
        latest_revision="" if isinstance(obs.desired, Rejected) else obs.target or "",
    )
    ready = conditions[0]
    route = RouteEntry(
        name=ep.name, namespace=ep.namespace, ready=obs.serving_upstream is not None,
        upstream=obs.serving_upstream or "", revision=obs.serving or "",
        reason="" if obs.serving_upstream else ready.reason,
        message="" if obs.serving_upstream else ready.message,
    )
    return status, route
