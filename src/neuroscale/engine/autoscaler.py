"""Knative's pod autoscaler (KPA) in miniature: how many replicas a revision wants, from its demand.

Demand is what the gateway reports per revision as cumulative counters
(`Sample`): requests that arrived, and the time integral of requests in
flight or waiting at the gateway ("busy seconds"). Over a trailing window,
busy-seconds / window is the average concurrency and requests / window the
rate, exactly the two metrics Knative scales on.

The decision follows Knative's KPA: desired = ceil(demand / target) over the
stable window; when the panic window's demand reaches `panic_threshold` times
what the ready replicas can take, the autoscaler panics for a stable window
and never scales down meanwhile; scale-down is at most halving per decision
(Knative's `max-scale-down-rate` 2); a revision with `minReplicas: 0` goes to
zero only after a whole stable window without demand plus its retention
period; demand waiting at the gateway for a revision at zero asks for one
replica at once (Knative's activator poke). Pure: the caller passes times.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

from neuroscale.spec.serving import Scaling


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic seconds
    requests: float  # cumulative requests arrived
    busy: float  # cumulative ∫ (in flight + waiting) dt, seconds
    waiting: int = 0  # requests held at the gateway right now


def _at(sample: Sample) -> float:
    return sample.at


@dataclass
class DemandHistory:
    """Samples of one revision's counters, kept as long as the longest window needs."""

    keep: float = 60.0
    samples: deque[Sample] = field(default_factory=deque)

    def add(self, sample: Sample) -> None:
        if self.samples and sample.busy < self.samples[-1].busy:  # the gateway restarted: counters reset
            self.samples.clear()
        self.samples.append(sample)
        while len(self.samples) > 2 and self.samples[1].at <= sample.at - self.keep:
            self.samples.popleft()

    def average(self, window: float, *, metric: str) -> float:
        """Average concurrency (or rate) over the trailing `window` seconds; 0 without two samples."""
        if len(self.samples) < 2:
            return 0.0
        last = self.samples[-1]
        # The first sample inside the window, by bisection: samples are in time order, and a linear scan over a
        # minute of 50 ms samples per revision per tick was the engine's largest cost with hundreds of endpoints.
        first = self.samples[bisect.bisect_left(self.samples, last.at - window, key=_at)]
        if first is last:
            first = self.samples[-2]
        span = max(last.at - first.at, 1e-6)
        delta = (last.requests - first.requests) if metric == "rps" else (last.busy - first.busy)
        return max(delta, 0.0) / max(span, min(window, span))

    @property
    def waiting(self) -> int:
        return self.samples[-1].waiting if self.samples else 0


@dataclass
class ScalerState:
    """What the autoscaler remembers about one revision between decisions."""

    desired: int = 1
    panic_until: float = -math.inf
    last_demand: float = -math.inf  # when demand was last seen (scale to zero waits a window after it)
    next_decision: float = -math.inf  # decisions are `EngineSettings.autoscale_period` apart unless requests wait


def decide(scaling: Scaling, history: DemandHistory, state: ScalerState, *, ready: int, now: float,
           cap: int) -> int:
    """The replicas this revision should have now (also stored in `state.desired`)."""
    stable = history.average(scaling.stable_window, metric=scaling.metric)
    panic = history.average(scaling.panic_window, metric=scaling.metric)
    if stable > 0 or panic > 0 or history.waiting:
        state.last_demand = now
    want_stable = math.ceil(stable / scaling.target - 1e-9)
    want_panic = math.ceil(panic / scaling.target - 1e-9)
    if want_panic / max(ready, 1) >= scaling.panic_threshold and want_panic > ready:
        state.panic_until = now + scaling.stable_window
    if now < state.panic_until:
        desired = max(want_panic, want_stable, state.desired)
    elif want_stable == 0 and now - state.last_demand >= scaling.stable_window + scaling.retention:
        desired = 0  # idle for a whole window and the retention period
    else:
        desired = max(want_stable, math.ceil(state.desired / 2), 1)  # halve at most per decision
    if history.waiting:
        desired = max(desired, 1)
    upper = min(scaling.max_replicas, cap) if scaling.max_replicas else cap
    state.desired = max(scaling.min_replicas, min(desired, max(upper, scaling.min_replicas)))
    return state.desired

