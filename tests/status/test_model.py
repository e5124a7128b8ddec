"""Health is derived from conditions by one table; sync compares main's revision with the serving one."""

from __future__ import annotations

import pytest

from neuroscale.status.conditions import Condition, ConditionType, false, true, unknown
from neuroscale.status.model import EndpointStatus, Health, Sync, endpoint_url, health_of, sync_of
from neuroscale.status.reasons import FAILURE_REASONS, Reason

R, P, I = ConditionType.Ready, ConditionType.PredictorReady, ConditionType.IngressReady


@pytest.mark.parametrize(
    ("conditions", "health"),
    [
        ([true(R, "Deployed"), true(P, "RevisionReady"), true(I, "RouteReady")], Health.Healthy),
        ([false(R, "CrashLoopBackOff"), false(P, "CrashLoopBackOff"), false(I, "RouteNotReady")], Health.Degraded),
        ([false(R, "AdmissionDenied"), true(P, "PreviousRevisionServing"), true(I, "RouteReady")], Health.Degraded),
        ([false(R, "ProcessExited"), false(P, "ProcessExited"), false(I, "RouteNotReady")], Health.Missing),
        ([unknown(R, "RevisionStarting"), unknown(P, "RevisionStarting"), false(I, "RouteNotReady")],
         Health.Progressing),
        ([], Health.Progressing),
    ],
    ids=["ready", "crashloop", "denied-old-serving", "process-gone", "starting", "nothing-yet"],
)
def test_health_of(conditions: list[Condition], health: Health) -> None:
    assert health_of(conditions) is health


@pytest.mark.parametrize(
    ("admitted", "serving", "target", "sync"),
    [
        (True, "a-predictor-00001", "a-predictor-00001", Sync.Synced),
        (True, "a-predictor-00001", "a-predictor-00002", Sync.OutOfSync),
        (True, None, "a-predictor-00001", Sync.OutOfSync),
        (False, "a-predictor-00001", "a-predictor-00001", Sync.OutOfSync),
        (False, None, None, Sync.OutOfSync),
    ],
)
def test_sync_of(admitted: bool, serving: str | None, target: str | None, sync: Sync) -> None:
    assert sync_of(admitted=admitted, serving=serving, target=target) is sync


def test_status_round_trip_orders_conditions() -> None:
    status = EndpointStatus(
        name="iris", namespace="ml", url=endpoint_url("iris", "ml", domain="localhost", port=8080),
        sync=Sync.Synced, health=Health.Healthy, revision="iris-predictor-00001",
        conditions=(true(P, "RevisionReady"), true(I, "RouteReady"), true(R, "Deployed")),
        observed_commit="abc", updated_at="T", latest_revision="iris-predictor-00001",
    )
    data = status.to_dict()
    assert data["url"] == "http://iris.ml.localhost:8080"
    assert [c["type"] for c in data["conditions"]] == ["Ready", "PredictorReady", "IngressReady"]
    back = EndpointStatus.from_dict(data)
    assert back.ready and back.revision == status.revision and set(back.conditions) == set(status.conditions)


def test_failure_reasons_are_in_the_catalogue() -> None:
    assert FAILURE_REASONS <= set(Reason)
    assert all(reason.value == reason.name for reason in Reason)
