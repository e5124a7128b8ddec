"""Status step, table-driven: what was observed → conditions, health, sync and the route entry."""

from __future__ import annotations

from typing import Any

import pytest

from neuroscale.engine.backoff import FailureRecord
from neuroscale.engine.desired import Admitted, Rejected
from neuroscale.engine.report import Observation, report
from neuroscale.engine.revisions import spec_digest
from neuroscale.engine.state import EndpointState, Phase
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import to_manifest
from neuroscale.engine.limits import Enforcement
from neuroscale.spec.serving import Unhonoured, serving_spec
from neuroscale.status.conditions import ConditionType
from neuroscale.status.model import Health, Sync
from neuroscale.status.reasons import Reason
from tests.engine.conftest import ready_of

SPEC = serving_spec(to_manifest(EndpointSpec(name="iris", owner="team-a", cost_center="cc-1", storage_uri="/m.joblib")))
ADMITTED = Admitted("iris", "default", SPEC, spec_digest(SPEC))
DENIED = Rejected("iris", "default", Reason.AdmissionDenied, "denied by require-labels at metadata.labels.cost-center")
R1, R2 = "iris-predictor-00001", "iris-predictor-00002"
UP = "127.0.0.1:5000"
LOAD = FailureRecord(1, 0.0, 0.0, Reason.ModelLoadFailed, "cannot unpickle /m.joblib")
LOOP = FailureRecord(2, 10.0, 1.0, Reason.ModelLoadFailed, "cannot unpickle /m.joblib")
KILLED = FailureRecord(1, 0.0, 0.0, Reason.ProcessExited, "model server was killed by SIGKILL")
OOM = FailureRecord(2, 10.0, 1.0, Reason.OOMKilled, "resident memory 300Mi went over the 256Mi memory limit")
ENFORCEMENT = Enforcement(memory="RSS watchdog", cpu="not enforced")
UNLOADED = "unloaded by admin ann at 2026-01-01T00:00:00+00:00; an admin loads it again with POST …/load"

T, F, U = "True", "False", "Unknown"


def serving(revision: str, *, percent: int = 100, ready: int = 1, wanted: int = 1) -> dict[str, Any]:
    """Observation fields for one revision with a share of traffic."""
    return dict(shares=((revision, percent),), upstreams={revision: (UP,) * ready}, wanted={revision: wanted})


CASES: list[tuple[str, dict[str, Any], tuple[str, str], tuple[str, str], str, Health, Sync, bool]] = [
    ("ready", dict(latest=R1, latest_phase=Phase.Ready, **serving(R1)),
     (T, "Deployed"), (T, "RevisionReady"), T, Health.Healthy, Sync.Synced, True),
    ("scaled-to-zero", dict(latest=R1, **serving(R1, ready=0, wanted=0)),
     (T, "Deployed"), (T, "RevisionReady"), T, Health.Healthy, Sync.Synced, True),
    ("first-start", dict(latest=R1, latest_phase=Phase.Starting),
     (U, "RevisionStarting"), (U, "RevisionStarting"), F, Health.Progressing, Sync.OutOfSync, False),
    ("rollout", dict(latest=R2, latest_phase=Phase.Starting, **serving(R1)),
     (U, "RevisionStarting"), (T, "PreviousRevisionServing"), T, Health.Progressing, Sync.OutOfSync, True),
    ("canary", dict(latest=R2, latest_phase=Phase.Ready, shares=((R2, 20), (R1, 80)), upstreams={R1: (UP,), R2: (UP,)},
                    wanted={R1: 1, R2: 1}),
     (T, "Deployed"), (T, "CanaryServing"), T, Health.Healthy, Sync.Synced, True),
    ("crashloop", dict(latest=R1, failure=LOOP, crashloop=True),
     (F, "CrashLoopBackOff"), (F, "CrashLoopBackOff"), F, Health.Degraded, Sync.OutOfSync, False),
    ("crashloop-retrying", dict(latest=R1, failure=LOOP, crashloop=True, latest_phase=Phase.Starting),
     (F, "CrashLoopBackOff"), (F, "CrashLoopBackOff"), F, Health.Degraded, Sync.OutOfSync, False),
    ("oom-loop", dict(latest=R1, failure=OOM, crashloop=True),
     (F, "OOMKilled"), (F, "OOMKilled"), F, Health.Degraded, Sync.OutOfSync, False),
    ("first-load-failure", dict(latest=R1, failure=LOAD),
     (F, "ModelLoadFailed"), (F, "ModelLoadFailed"), F, Health.Degraded, Sync.OutOfSync, False),
    ("killed-gone", dict(latest=R1, failure=KILLED, **serving(R1, ready=0)),
     (F, "ProcessExited"), (F, "ProcessExited"), F, Health.Missing, Sync.Synced, True),
    ("killed-restarting", dict(latest=R1, failure=KILLED, latest_phase=Phase.Starting, **serving(R1, ready=0)),
     (U, "RevisionStarting"), (U, "RevisionStarting"), F, Health.Progressing, Sync.Synced, True),
    ("denied-never-deployed", dict(desired=DENIED),
     (F, "AdmissionDenied"), (F, "AdmissionDenied"), F, Health.Degraded, Sync.OutOfSync, False),
    ("denied-old-serving", dict(desired=DENIED, latest=R1, latest_phase=Phase.Ready, **serving(R1)),
     (F, "AdmissionDenied"), (T, "RevisionReady"), T, Health.Degraded, Sync.OutOfSync, True),
    ("new-revision-crashloops-old-serves", dict(latest=R2, failure=LOOP, crashloop=True, **serving(R1)),
     (F, "CrashLoopBackOff"), (T, "PreviousRevisionServing"), T, Health.Degraded, Sync.OutOfSync, True),
    ("unloaded-by-an-admin", dict(latest=R1, unloaded=UNLOADED, **serving(R1, ready=0, wanted=0)),
     (F, "ModelUnloaded"), (F, "ModelUnloaded"), F, Health.Missing, Sync.Synced, False),
    ("merged-while-unloaded", dict(latest=R2, unloaded=UNLOADED, **serving(R1, ready=0, wanted=0)),
     (F, "ModelUnloaded"), (F, "ModelUnloaded"), F, Health.Missing, Sync.OutOfSync, False),
]
BASE: dict[str, Any] = dict(desired=ADMITTED, latest=None, generation=1, shares=(), upstreams={}, wanted={},
                            latest_phase=None, failure=FailureRecord(), crashloop=False, commit="c0ffee" * 7,
                            spec=SPEC)


def observation(**fields: Any) -> Observation:
    return Observation(**{**BASE, **fields})


def run_report(obs: Observation) -> tuple[Any, Any]:
    return report(EndpointState("iris", "default"), obs, domain="localhost", gateway_port=8080, now="T",
                  enforcement=ENFORCEMENT)


@pytest.mark.parametrize(("case", "fields", "ready", "predictor", "ingress", "health", "sync", "routed"), CASES,
                         ids=[c[0] for c in CASES])
def test_report(case: str, fields: dict[str, Any], ready: tuple[str, str], predictor: tuple[str, str],
                ingress: str, health: Health, sync: Sync, routed: bool) -> None:
    obs = observation(**fields)
    status, route = run_report(obs)
    got = {c.type: (c.status.value, c.reason) for c in status.conditions}
    assert got[ConditionType.Ready] == ready
    assert got[ConditionType.PredictorReady] == predictor
    assert got[ConditionType.IngressReady][0] == ingress
    assert (status.health, status.sync) == (health, sync)
    assert route.ready is routed and status.url == "http://iris.default.localhost:8080"
    assert [(t.revision, t.percent) for t in route.traffic] == list(obs.shares)
    if obs.live:
        assert route.revision == obs.serving and route.reason == ""
    else:
        assert route.reason == ready[1] and route.message == ready_of(status).message


def test_the_route_asks_for_keys_when_the_latest_spec_does() -> None:
    keyed = SPEC.model_copy(update={"api_keys_of": "iris"})
    assert run_report(observation(latest=R1, **serving(R1)))[1].auth == ""
    assert run_report(observation(latest=R1, spec=keyed, **serving(R1)))[1].auth == "iris"


def test_crashloop_message_carries_the_server_reason() -> None:
    status, route = run_report(observation(latest=R1, failure=LOOP, crashloop=True))
    assert "ModelLoadFailed: cannot unpickle /m.joblib" in route.message
    assert "back-off 1s" in route.message


def test_denied_message_says_old_revision_still_serves() -> None:
    status, _ = run_report(observation(desired=DENIED, latest=R1, latest_phase=Phase.Ready, **serving(R1)))
    ready = status.condition(ConditionType.Ready)
    assert ready is not None and "cost-center" in ready.message and f"still serving {R1}" in ready.message
    assert status.latest_revision == "" and status.revision == R1


def test_unreadable_main_keeps_serving_and_says_why() -> None:
    obs = observation(latest=R1, latest_phase=Phase.Ready, source_error="cannot read main: git failed", **serving(R1))
    status, route = run_report(obs)
    ready = status.condition(ConditionType.Ready)
    assert ready is not None and ready.reason == "SourceUnavailable" and "git failed" in ready.message
    assert route.ready and status.health is Health.Degraded


def test_ingress_waits_for_the_gateway_to_load_the_route() -> None:
    status, route = run_report(observation(latest=R1, latest_phase=Phase.Ready, route_applied=False, **serving(R1)))
    ingress = status.condition(ConditionType.IngressReady)
    assert ingress is not None and ingress.status.value == "Unknown" and "gateway" in ingress.message
    assert not status.ready and status.health is Health.Progressing
    assert route.ready and route.upstream == UP


def test_canary_status_lists_both_revisions_with_shares_and_replicas() -> None:
    obs = observation(latest=R2, latest_phase=Phase.Ready, shares=((R2, 20), (R1, 80)),
                      upstreams={R1: (UP, UP), R2: (UP,)}, wanted={R1: 2, R2: 1})
    status, route = run_report(obs)
    assert [(t.revision, t.percent, t.latest, t.ready_replicas, t.desired_replicas) for t in status.traffic] == [
        (R2, 20, True, 1, 1), (R1, 80, False, 2, 2)]
    assert [(t.revision, t.percent, len(t.upstreams)) for t in route.traffic] == [(R2, 20, 1), (R1, 80, 2)]
    assert status.revision == R1 and status.latest_revision == R2
    assert status.replicas == {"ready": 1, "desired": 1, "min": 1, "max": 1}


def test_limits_say_how_they_are_enforced_here() -> None:
    status, _ = run_report(observation(latest=R1, latest_phase=Phase.Ready, **serving(R1)))
    assert status.limits == {"memory": f"1Gi: {ENFORCEMENT.memory}", "cpu": f"1: {ENFORCEMENT.cpu}"}


def test_fields_not_honoured_are_a_condition_outside_ready() -> None:
    spec = SPEC.model_copy(update={"unhonoured": (Unhonoured(path="spec.predictor.nodeSelector", why="no nodes"),)})
    status, _ = run_report(observation(latest=R1, latest_phase=Phase.Ready, spec=spec, **serving(R1)))
    honoured = status.condition(ConditionType.FieldsHonoured)
    assert honoured is not None and honoured.reason == "FieldsNotHonoured"
    assert "spec.predictor.nodeSelector: no nodes" in honoured.message
    assert status.ready and status.health is Health.Healthy
