"""Conditions keep their transition time while the status holds; Ready is the conjunction of its parts."""

from __future__ import annotations

import pytest

from neuroscale.status.conditions import (
    Condition,
    ConditionStatus,
    ConditionType,
    aggregate_ready,
    false,
    find,
    set_condition,
    true,
    unknown,
)

P, I = ConditionType.PredictorReady, ConditionType.IngressReady


@pytest.mark.parametrize(
    ("previous", "new", "expected_time"),
    [
        ([], true(P, "RevisionReady"), "T2"),
        ([Condition(P, ConditionStatus.TRUE, "RevisionReady", last_transition_time="T1")],
         true(P, "RevisionReady", "other message"), "T1"),
        ([Condition(P, ConditionStatus.FALSE, "ProcessExited", last_transition_time="T1")],
         true(P, "RevisionReady"), "T2"),
        ([Condition(I, ConditionStatus.TRUE, "RouteReady", last_transition_time="T1")],
         true(P, "RevisionReady"), "T2"),
    ],
    ids=["first", "same-status", "flipped", "other-type"],
)
def test_set_condition_transition_time(previous: list[Condition], new: Condition, expected_time: str) -> None:
    assert set_condition(previous, new, now="T2").last_transition_time == expected_time


@pytest.mark.parametrize(
    ("parts", "status", "reason"),
    [
        ([true(P, "RevisionReady"), true(I, "RouteReady")], ConditionStatus.TRUE, "Deployed"),
        ([false(P, "CrashLoopBackOff", "boom"), false(I, "RouteNotReady")], ConditionStatus.FALSE, "CrashLoopBackOff"),
        ([true(P, "RevisionReady"), unknown(I, "RevisionStarting")], ConditionStatus.UNKNOWN, "RevisionStarting"),
        ([unknown(P, "RevisionStarting"), false(I, "RouteNotReady")], ConditionStatus.UNKNOWN, "RevisionStarting"),
    ],
    ids=["all-true", "first-false-wins", "unknown", "first-not-true-wins"],
)
def test_aggregate_ready(parts: list[Condition], status: ConditionStatus, reason: str) -> None:
    ready = aggregate_ready(parts, reason="Deployed", generation=3)
    assert (ready.type, ready.status, ready.reason, ready.observed_generation) == (
        ConditionType.Ready, status, reason, 3)


def test_round_trip_and_find() -> None:
    cond = Condition(P, ConditionStatus.FALSE, "ModelLoadFailed", "bad file", "T1", 2)
    assert Condition.from_dict(cond.to_dict()) == cond
    assert find([true(I, "RouteReady"), cond], P) is cond
    assert find([cond], I) is None
