"""The reconciler's heartbeat, and what a status is worth when it stops.

A status row says what the reconciler last *observed*; it is only rewritten
when something changes, so a hung, stopped or dead reconciler would leave a
Healthy row behind forever. The reconciler therefore publishes a heartbeat
after every completed reconcile pass (at most once per `interval`), and every
reader passes the rows through `as_observed`: once the heartbeat is older than
`STALE_AFTER` intervals (or the reconciler said it stopped), `Ready` becomes
`Unknown` with reason `ReconcilerNotObserving`, health `Unknown`, and the age
of the last observation is shown. Pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from neuroscale.status.conditions import ConditionType, set_condition, unknown
from neuroscale.status.model import EndpointStatus, Health
from neuroscale.status.reasons import Reason

#: A heartbeat older than this many intervals means the reconciler is not observing.
STALE_AFTER = 3.0


def parse_time(stamp: str) -> float | None:
    """Seconds since the epoch of an ISO-8601 stamp with a UTC offset, None when it is not one."""
    try:
        parsed = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class Heartbeat:
    """The reconciler's last sign of life."""

    pid: int
    started_at: str  # when this reconciler process started
    observed_at: str  # end of its last completed reconcile pass
    interval: float  # seconds between heartbeats
    stopped_at: str = ""  # set by a clean shutdown
    error: str = ""  # the last reconcile pass that failed, while it keeps failing

    def age(self, now: float) -> float:
        """Seconds since the last completed observation (infinite when unreadable)."""
        observed = parse_time(self.observed_at)
        return float("inf") if observed is None else max(0.0, now - observed)

    def ahead(self, now: float) -> float:
        """Seconds the last observation is stamped after `now` (0 when it is not): the clock moved back since.

        A reconciler that still observes restamps within an interval (it paces itself by the monotonic
        clock), so a stamp still ahead after `STALE_AFTER` intervals is as stale as an old one."""
        observed = parse_time(self.observed_at)
        return 0.0 if observed is None else max(0.0, observed - now)

    def stale(self, now: float) -> bool:
        limit = STALE_AFTER * self.interval
        return bool(self.stopped_at) or self.age(now) > limit or self.ahead(now) > limit

    def describe(self, now: float) -> str:
        """Why statuses are not current, for a condition message."""
        age, ahead = self.age(now), self.ahead(now)
        ago = f"{age:.0f}s ago" if age != float("inf") else "at an unknown time"
        if ahead > STALE_AFTER * self.interval:
            ago = f"at {self.observed_at}, {ahead:.0f}s after this machine's clock (the clock moved back since)"
        if self.stopped_at:
            return (f"the reconciler (pid {self.pid}) stopped at {self.stopped_at}; it last observed this endpoint "
                    f"{ago}, so what follows may be out of date")
        failing = f"; its passes fail: {self.error}" if self.error else ""
        return (f"the reconciler (pid {self.pid}) last observed this endpoint {ago} (it reports every "
                f"{self.interval:g}s): it is hung, stopped or dead{failing}; what follows may be out of date "
                "(`neuroscale doctor` names the cause)")

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "started_at": self.started_at, "observed_at": self.observed_at,
                "interval": self.interval, "stopped_at": self.stopped_at, "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Heartbeat:
        return cls(pid=int(data.get("pid") or 0), started_at=str(data.get("started_at") or ""),
                   observed_at=str(data.get("observed_at") or ""), interval=float(data.get("interval") or 1.0),
                   stopped_at=str(data.get("stopped_at") or ""), error=str(data.get("error") or ""))


def as_observed(status: EndpointStatus, heartbeat: Heartbeat | None, *, now: float) -> EndpointStatus:
    """`status` as a reader should see it at `now`: stamped with the observation's age, Unknown when stale.

    Without a heartbeat (a state file from before heartbeats) the row is returned as saved. A row
    written after the platform stopped (`PlatformStopped`) already says the truth and is kept.
    """
    if heartbeat is None:
        return status
    age = heartbeat.age(now)
    observed = replace(status, observed_at=heartbeat.observed_at,
                       observed_age=round(age, 1) if age != float("inf") else None)
    ready = status.condition(ConditionType.Ready)
    if not heartbeat.stale(now) or (ready is not None and ready.reason == Reason.PlatformStopped):
        return observed
    stale = set_condition(status.conditions, unknown(ConditionType.Ready, Reason.ReconcilerNotObserving,
                                                     heartbeat.describe(now)), now=heartbeat.observed_at)
    conditions = tuple(stale if c.type is ConditionType.Ready else c for c in status.conditions)
    if ready is None:
        conditions = (stale, *conditions)
    return replace(observed, conditions=conditions, health=Health.Unknown)
