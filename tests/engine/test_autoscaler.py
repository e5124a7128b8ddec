"""The KPA in miniature: desired replicas from demand samples, with a fake clock."""

from __future__ import annotations

import math

import pytest

from neuroscale.engine.autoscaler import DemandHistory, Sample, ScalerState, decide
from neuroscale.spec.serving import Scaling

SCALING = Scaling(min_replicas=1, max_replicas=10, target=10.0, stable_window=60.0, panic_window=6.0)


def steady(concurrency: float, *, seconds: float, start: float = 0.0, rps: float = 0.0) -> DemandHistory:
    history = DemandHistory(keep=120.0)
    for step in range(int(seconds) + 1):
        history.add(Sample(at=start + step, requests=rps * step, busy=concurrency * step))
    return history


@pytest.mark.parametrize(("concurrency", "replicas"), [(0.0, 1), (5.0, 1), (10.0, 1), (25.0, 3), (200.0, 10)])
def test_stable_demand_over_target(concurrency: float, replicas: int) -> None:
    state = ScalerState(desired=1, last_demand=0.0)
    assert decide(SCALING, steady(concurrency, seconds=60), state, ready=1, now=60.0, cap=50) == replicas


def test_rps_metric_scales_on_arrivals() -> None:
    scaling = SCALING.model_copy(update={"metric": "rps", "target": 50.0})
    state = ScalerState(desired=1, last_demand=0.0)
    assert decide(scaling, steady(0.5, seconds=60, rps=180.0), state, ready=1, now=60.0, cap=50) == 4


def test_panic_scales_up_on_a_burst_and_holds() -> None:
    history = steady(5.0, seconds=54)
    burst = history.samples[-1]
    for step in range(1, 7):  # six seconds at 60 concurrent
        history.add(Sample(burst.at + step, burst.requests, burst.busy + 60.0 * step))
    state = ScalerState(desired=1, last_demand=0.0)
    panicked = decide(SCALING, history, state, ready=1, now=60.0, cap=50)
    assert panicked == 6 and state.panic_until == 120.0
    calm = history.samples[-1]
    for step in range(1, 5):
        history.add(Sample(calm.at + step, calm.requests, calm.busy))
    assert decide(SCALING, history, state, ready=6, now=64.0, cap=50) == 6, "no scale-down while panicking"


def test_scale_down_is_at_most_halving() -> None:
    state = ScalerState(desired=8, last_demand=59.0)
    assert decide(SCALING, steady(10.0, seconds=60), state, ready=8, now=60.0, cap=50) == 4


def test_bounds_and_cap() -> None:
    unbounded = SCALING.model_copy(update={"max_replicas": 0})
    assert decide(unbounded, steady(500.0, seconds=60), ScalerState(), ready=1, now=60.0, cap=4) == 4
    floor = SCALING.model_copy(update={"min_replicas": 3})
    assert decide(floor, steady(0.0, seconds=60), ScalerState(desired=3), ready=3, now=60.0, cap=4) == 3


def test_scale_to_zero_waits_for_a_whole_idle_window_and_retention() -> None:
    zero = SCALING.model_copy(update={"min_replicas": 0, "retention": 10.0})
    state = ScalerState(desired=1, last_demand=0.0)
    idle = steady(0.0, seconds=100)
    assert decide(zero, idle, state, ready=1, now=69.0, cap=4) == 1
    assert decide(zero, idle, state, ready=1, now=71.0, cap=4) == 0


def test_waiting_demand_activates_a_revision_at_zero() -> None:
    zero = SCALING.model_copy(update={"min_replicas": 0})
    state = ScalerState(desired=0, last_demand=-math.inf)
    history = DemandHistory()
    history.add(Sample(at=100.0, requests=1, busy=0.0, waiting=1))
    assert decide(zero, history, state, ready=0, now=100.0, cap=4) == 1


def test_a_gateway_restart_resets_the_history() -> None:
    history = steady(10.0, seconds=10)
    history.add(Sample(at=11.0, requests=0, busy=0.0))
    assert len(history.samples) == 1

