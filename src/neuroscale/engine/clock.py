"""The clock the engine reads, as a Protocol so pure steps can be tested with a fake one."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def iso(timestamp: float) -> str:
    """UTC ISO-8601 with microseconds: events are precise enough to time a self-heal."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
