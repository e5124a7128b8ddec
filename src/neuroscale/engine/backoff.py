"""Restart backoff for crashing model servers, kubelet style: 0 s, then 1, 2, 4 … capped.

The first restart is immediate so a killed server is back within the
self-heal budget; repeated failures back off. A server that dies after being
ready for `reset_after` seconds starts a fresh count (so killing a healthy
server always restarts it at once), while one that dies while loading, or
right after, backs off instead of hot-looping. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    reset_after: float = 1.0
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

    def crashlooping(self, policy: BackoffPolicy) -> bool:
        return self.failures >= policy.crashloop_after

    def may_restart(self, *, now: float) -> bool:
        return now >= self.restart_at
