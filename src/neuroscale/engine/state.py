"""The reconciler's in-memory picture of each endpoint: what main wants and what runs.

Mutable on purpose and owned by the loop alone (one thread); everything that
must survive a restart is also in SQLite (revisions, processes, status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from neuroscale.engine.backoff import FailureRecord
from neuroscale.engine.desired import Desired
from neuroscale.engine.revisions import RevisionRecord
from neuroscale.engine.runtime import ServerHandle
from neuroscale.spec.serving import ServingSpec
from neuroscale.status.conditions import Condition


class Phase(StrEnum):
    Starting = "Starting"  # launched, not yet answering /v2/health/ready
    Ready = "Ready"  # answering; may receive traffic
    Draining = "Draining"  # traffic moved away; stopped when the grace ends
    Stopping = "Stopping"  # SIGTERM sent; SIGKILL when `deadline` passes


@dataclass
class Server:
    handle: ServerHandle
    phase: Phase
    since: float  # monotonic time the phase began
    deadline: float  # startup timeout, end of drain, or SIGKILL time, per phase
    probe_at: float = 0.0  # next liveness probe (Ready servers only)
    probe_failures: int = 0  # consecutive failed liveness probes

    @property
    def revision(self) -> str:
        return self.handle.revision

    @property
    def live(self) -> bool:
        return self.phase in (Phase.Starting, Phase.Ready)


@dataclass(frozen=True)
class Target:
    """The revision that should run: main's admitted spec, or the one still serving if main's is rejected."""

    record: RevisionRecord
    spec: ServingSpec

    @property
    def name(self) -> str:
        return self.record.name


@dataclass
class EndpointState:
    name: str
    namespace: str
    desired: Desired | None = None  # None until main was read
    pruned: bool = False  # removed from main: stop everything, then forget
    target: Target | None = None
    serving: str | None = None  # revision receiving traffic
    serving_target: Target | None = None  # what `serving` runs, kept alive until traffic moves on
    servers: list[Server] = field(default_factory=list)
    failure: FailureRecord = field(default_factory=FailureRecord)
    conditions: tuple[Condition, ...] = ()
    saved: dict[str, object] | None = None  # last status written, to write only on change

    def server_for(self, revision: str | None, *, phase: Phase | None = None) -> Server | None:
        for server in self.servers:
            if server.revision == revision and server.live and (phase is None or server.phase is phase):
                return server
        return None

    def wanted(self) -> list[Target]:
        """Revisions that must have a process: main's target, and the serving one until traffic moves."""
        if self.pruned:
            return []
        wanted = [self.target] if self.target else []
        if self.serving_target and self.serving_target.name not in {t.name for t in wanted}:
            wanted.append(self.serving_target)
        return wanted

    @property
    def serving_server(self) -> Server | None:
        return self.server_for(self.serving, phase=Phase.Ready)
