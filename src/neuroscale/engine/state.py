"""The reconciler's in-memory picture of each endpoint: what main wants and what runs.

Mutable on purpose and owned by the loop alone (one thread); everything that
must survive a restart is also in SQLite (revisions, processes, status).

An endpoint has up to two revisions in play, as in KServe: `latest` (made
from main's current spec) and `rolled_out` (the one that last had all the
traffic, which keeps its share during a canary). Each has replicas — model
server processes — whose number the autoscaler decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from neuroscale.engine.autoscaler import ScalerState
from neuroscale.engine.backoff import FailureRecord
from neuroscale.engine.desired import Desired
from neuroscale.engine.revisions import RevisionRecord
from neuroscale.engine.runtime import ExitInfo, ServerHandle
from neuroscale.engine.traffic import Split
from neuroscale.spec.serving import ServingSpec
from neuroscale.status.conditions import Condition


class Phase(StrEnum):
    Starting = "Starting"  # launched, not yet answering /v2/health/ready
    Ready = "Ready"  # answering; may receive traffic
    Draining = "Draining"  # out of the routes; stopped when the grace ends
    Stopping = "Stopping"  # SIGTERM sent; SIGKILL when `deadline` passes


@dataclass
class Server:
    handle: ServerHandle
    phase: Phase
    since: float  # monotonic time the phase began
    deadline: float  # startup timeout, end of drain, or SIGKILL time, per phase
    probe_at: float = 0.0  # next liveness probe (Ready servers only)
    probe_failures: int = 0  # consecutive failed liveness probes
    killed_for: ExitInfo | None = None  # why the platform killed it (OOMKilled), reported when it exits

    @property
    def revision(self) -> str:
        return self.handle.revision

    @property
    def live(self) -> bool:
        return self.phase in (Phase.Starting, Phase.Ready)


@dataclass(frozen=True)
class Target:
    """A revision that should run: its record and the spec it was made from."""

    record: RevisionRecord
    spec: ServingSpec

    @property
    def name(self) -> str:
        return self.record.name


@dataclass
class RevisionState:
    """One revision in play: its autoscaler memory, crash-loop record and whether it ever became ready."""

    target: Target
    scaler: ScalerState
    failure: FailureRecord = field(default_factory=FailureRecord)
    was_ready: bool = False

    @property
    def name(self) -> str:
        return self.target.name


@dataclass
class EndpointState:
    name: str
    namespace: str
    desired: Desired | None = None  # None until main was read
    preview: bool = False  # the preview of an open pull request (`engine.previews`), not an endpoint on main
    evicted: str = ""  # why a preview was stopped beyond the platform's limit (until its next request)
    unloaded: str = ""  # who unloaded it and how to load it (`engine.unloads`); "" while loaded
    pruned: bool = False  # removed from main: stop everything, then forget
    latest: RevisionState | None = None  # main's revision (or the one kept when main's spec is rejected)
    rolled_out: RevisionState | None = None  # last had 100 % of traffic; keeps the rest during a canary
    split: Split = field(default_factory=lambda: Split((), None))
    servers: list[Server] = field(default_factory=list)
    conditions: tuple[Condition, ...] = ()
    saved: dict[str, object] | None = None  # last status written, to write only on change

    def servers_of(self, revision: str | None, *, phase: Phase | None = None) -> list[Server]:
        return [s for s in self.servers if s.revision == revision and s.live and (phase is None or s.phase is phase)]

    def server_for(self, revision: str | None, *, phase: Phase | None = None) -> Server | None:
        found = self.servers_of(revision, phase=phase)
        return found[0] if found else None

    def revisions(self) -> list[RevisionState]:
        """Revisions that must have processes: latest, and the rolled-out one while it keeps traffic."""
        if self.pruned:
            return []
        wanted = [self.latest] if self.latest else []
        if self.rolled_out is not None and self.rolled_out not in wanted and (
                self.split.percent(self.rolled_out.name) or not self.split.shares):
            wanted.append(self.rolled_out)
        return wanted

    def take(self, target: Target, *, now: float) -> None:
        """Main's admitted spec: the same revision with new settings, or a new latest revision."""
        current = self.revision(target.name)
        if current is not None:  # same process spec: scaling, traffic and timeouts apply in place
            current.target = target
            self.latest = current
            return
        self.latest = RevisionState(target, ScalerState(desired=max(1, target.spec.scaling.min_replicas),
                                                        last_demand=now))

    def revision(self, name: str) -> RevisionState | None:
        return next((r for r in (self.latest, self.rolled_out) if r is not None and r.name == name), None)

    @property
    def serving(self) -> str | None:
        """The revision with the largest share of traffic (the one status names)."""
        return max(self.split.shares, key=lambda item: item[1])[0] if self.split.shares else None
