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
from neuroscale.spec.serving import ServingSpec, serving_spec
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

T, F, U = "True", "False", "Unknown"

CASES: list[tuple[str, dict[str, Any], tuple[str, str], tuple[str, str], str, Health, Sync, bool]] = [
    ("ready", dict(target=R1, serving=R1, serving_upstream=UP, target_phase=Phase.Ready),
     (T, "Deployed"), (T, "RevisionReady"), T, Health.Healthy, Sync.Synced, True),
    ("first-start", dict(target=R1, target_phase=Phase.Starting),
     (U, "RevisionStarting"), (U, "RevisionStarting"), F, Health.Progressing, Sync.OutOfSync, False),
    ("rollout", dict(target=R2, serving=R1, serving_upstream=UP, target_phase=Phase.Starting),
     (U, "RevisionStarting"), (T, "PreviousRevisionServing"), T, Health.Progressing, Sync.OutOfSync, True),
    ("crashloop", dict(target=R1, failure=LOOP, crashloop=True),
     (F, "CrashLoopBackOff"), (F, "CrashLoopBackOff"), F, Health.Degraded, Sync.OutOfSync, False),
    ("crashloop-retrying", dict(target=R1, failure=LOOP, crashloop=True, target_phase=Phase.Starting),
     (F, "CrashLoopBackOff"), (F, "CrashLoopBackOff"), F, Health.Degraded, Sync.OutOfSync, False),
    ("first-load-failure", dict(target=R1, failure=LOAD),
     (F, "ModelLoadFailed"), (F, "ModelLoadFailed"), F, Health.Degraded, Sync.OutOfSync, False),
    ("killed-gone", dict(target=R1, serving=R1, failure=KILLED),
     (F, "ProcessExited"), (F, "ProcessExited"), F, Health.Missing, Sync.Synced, False),
    ("killed-restarting", dict(target=R1, serving=R1, failure=KILLED, target_phase=Phase.Starting),
     (U, "RevisionStarting"), (U, "RevisionStarting"), F, Health.Progressing, Sync.Synced, False),
    ("denied-never-deployed", dict(desired=DENIED),
     (F, "AdmissionDenied"), (F, "AdmissionDenied"), F, Health.Degraded, Sync.OutOfSync, False),
    ("denied-old-serving", dict(desired=DENIED, target=R1, serving=R1, serving_upstream=UP, target_phase=Phase.Ready),
     (F, "AdmissionDenied"), (T, "RevisionReady"), T, Health.Degraded, Sync.OutOfSync, True),
    ("new-revision-crashloops-old-serves", dict(target=R2, serving=R1, serving_upstream=UP, failure=LOOP,
                                                crashloop=True),
     (F, "CrashLoopBackOff"), (T, "PreviousRevisionServing"), T, Health.Degraded, Sync.OutOfSync, True),
]


@pytest.mark.parametrize(("case", "fields", "ready", "predictor", "ingress", "health", "sync", "routed"), CASES,
                         ids=[c[0] for c in CASES])
def test_report(case: str, fields: dict[str, Any], ready: tuple[str, str], predictor: tuple[str, str],
                ingress: str, health: Health, sync: Sync, routed: bool) -> None:
    base: dict[str, Any] = dict(desired=ADMITTED, target=None, generation=1, serving=None, serving_upstream=None,
                                target_phase=None, failure=FailureRecord(), crashloop=False, commit="c0ffee" * 7)
    obs = Observation(**{**base, **fields})
    status, route = report(EndpointState("iris", "default"), obs, domain="localhost", gateway_port=8080, now="T")
    got = {c.type: (c.status.value, c.reason) for c in status.conditions}
    assert got[ConditionType.Ready] == ready
    assert got[ConditionType.PredictorReady] == predictor
    assert got[ConditionType.IngressReady][0] == ingress
    assert (status.health, status.sync) == (health, sync)
    assert route.ready is routed and status.url == "http://iris.default.localhost:8080"
    if routed:
        assert route.upstream == UP and route.revision == obs.serving and route.reason == ""
    else:
        assert route.upstream == "" and route.reason == ready[1]
        assert route.message == ready_of(status).message


def test_crashloop_message_carries_the_server_reason() -> None:
    obs = Observation(ADMITTED, R1, 1, None, None, None, LOOP, True, "abc")
    status, route = report(EndpointState("iris", "default"), obs, domain="localhost", gateway_port=8080, now="T")
    assert "ModelLoadFailed: cannot unpickle /m.joblib" in route.message
    assert "back-off 1s" in route.message


def test_denied_message_says_old_revision_still_serves() -> None:
    obs = Observation(DENIED, R1, 1, R1, UP, Phase.Ready, FailureRecord(), False, "abc")
    status, _ = report(EndpointState("iris", "default"), obs, domain="localhost", gateway_port=8080, now="T")
    ready = status.condition(ConditionType.Ready)
    assert ready is not None and "cost-center" in ready.message and f"still serving {R1}" in ready.message
    assert status.latest_revision == "" and status.revision == R1


def test_unreadable_main_keeps_serving_and_says_why() -> None:
    obs = Observation(ADMITTED, R1, 1, R1, UP, Phase.Ready, FailureRecord(), False, "abc",
                      source_error="cannot read main: git failed")
    status, route = report(EndpointState("iris", "default"), obs, domain="localhost", gateway_port=8080, now="T")
    ready = status.condition(ConditionType.Ready)
    assert ready is not None and ready.reason == "SourceUnavailable" and "git failed" in ready.message
    assert route.ready and status.health is Health.Degraded


def test_ingress_waits_for_the_gateway_to_load_the_route() -> None:
    obs = Observation(ADMITTED, R1, 1, R1, UP, Phase.Ready, FailureRecord(), False, "abc", route_applied=False)
    status, route = report(EndpointState("iris", "default"), obs, domain="localhost", gateway_port=8080, now="T")
    ingress = status.condition(ConditionType.IngressReady)
    assert ingress is not None and ingress.status.value == "Unknown" and "gateway" in ingress.message
    assert not status.ready and status.health is Health.Progressing
    assert route.ready and route.upstream == UP
