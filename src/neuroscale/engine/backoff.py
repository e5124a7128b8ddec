"""Restart backoff for crash loops only, kubelet style: 0 s, then 1, 2, 4 … capped.

The first restart is immediate so a killed server is back within the
self-heal budget; repeated failures back off. What counts as a failure in a
row: a server that dies while starting, fails its start-up, or dies within
`stable_after` seconds of becoming ready. A server that had been ready for
at least `stable_after` and then died (killed from outside, OOM, drift) was
healthy: its death starts a fresh count, so it restarts at once however often
it is killed. Each such restart has to load and then serve for
`stable_after` before the next one is free, which bounds the restart rate of
a server that dies serving. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    stable_after: float = 10.0  # seconds ready before a death no longer counts towards a crash loop
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

    def failed(self, policy: BackoffPolicy, *, now: float, reason: str, message: str) -> FailureRecord:
        failures = self.failures + 1
        delay = policy.delay(failures)
        return FailureRecord(failures, now + delay, delay, reason, message)

    def served_then_died(self, policy: BackoffPolicy, *, ready_for: float) -> FailureRecord:
        """A ready server died: a fresh count when it had been serving a while, else the count goes on."""
        return FailureRecord() if ready_for >= policy.stable_after else self

    def crashlooping(self, policy: BackoffPolicy) -> bool:
        return self.failures >= policy.crashloop_after

    def may_restart(self, *, now: float) -> bool:
        return now >= self.restart_at
