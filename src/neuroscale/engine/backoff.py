"""Restart backoff for crashing model servers, kubelet style: 0 s, then 1, 2, 4 … capped.

The first restart is immediate so a killed server is back within the
self-heal budget; repeated failures back off. A server that had become ready
and then died (killed, OOM, drift) starts a fresh count, so it restarts at
once however often it is killed, unless it does so `flap_limit` times within
`flap_window` seconds, which is a crash loop of its own (it dies serving) and
backs off too. One that dies while loading backs off instead of hot-looping.
Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class BackoffPolicy:
    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    flap_window: float = 60.0
    flap_limit: int = 5
    crashloop_after: int = 2  # consecutive failures before the reason becomes CrashLoopBackOff

    def delay(self, failures: int) -> float:
        """Seconds to wait before restart number `failures` (1 = after the first failure)."""
        if failures <= 1:
            return 0.0
        return min(self.cap, self.initial * self.factor ** (failures - 2))


@dataclass(frozen=True)
class FailureRecord:
    """Consecutive failures of one endpoint's target revision and when it may restart."""

    failures: int = 0
    restart_at: float = 0.0
    delay: float = 0.0
    reason: str = ""
    message: str = ""
    ready_deaths: tuple[float, ...] = ()  # when ready servers of this target died, within the flap window

    def failed(self, policy: BackoffPolicy, *, now: float, reason: str, message: str) -> FailureRecord:
        failures = self.failures + 1
        delay = policy.delay(failures)
        return FailureRecord(failures, now + delay, delay, reason, message, self.ready_deaths)

    def served_then_died(self, policy: BackoffPolicy, *, now: float) -> FailureRecord:
        """A ready server died: count afresh (restart at once) unless it keeps dying while serving."""
        recent = tuple(t for t in self.ready_deaths if now - t < policy.flap_window) + (now,)
        if len(recent) < policy.flap_limit:
            return FailureRecord(ready_deaths=recent)
        return replace(self, ready_deaths=recent)

    def crashlooping(self, policy: BackoffPolicy) -> bool:
        return self.failures >= policy.crashloop_after

    def may_restart(self, *, now: float) -> bool:
        return now >= self.restart_at
