"""Endpoint status and events as the CLI, portal and benchmarks read them.

Sync and health use Argo CD's words (Synced/OutOfSync; Healthy/Progressing/
Degraded/Missing) so the embedded and cluster modes read the same. Health is
derived from the conditions by one table (`health_of`), never set by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from neuroscale.status.conditions import CONDITION_ORDER, Condition, ConditionType, find
from neuroscale.status.reasons import FAILURE_REASONS, Reason


class Sync(StrEnum):
    Synced = "Synced"
    OutOfSync = "OutOfSync"


class Health(StrEnum):
    Healthy = "Healthy"
    Progressing = "Progressing"
    Degraded = "Degraded"
    Missing = "Missing"
    Unknown = "Unknown"  # nobody is observing: the reconciler's heartbeat is stale (see `status.heartbeat`)


class EventType(StrEnum):
    Normal = "Normal"
    Warning = "Warning"


#: PredictorReady reasons meaning "nothing runs right now and nothing is wrong with the spec".
_ABSENT_REASONS = frozenset({Reason.ProcessExited, Reason.KilledBySignal, Reason.LivenessProbeFailed,
                             Reason.PortUnavailable, Reason.PlatformStopped, Reason.ModelUnloaded})


#: Ready reasons meaning "main's manifest was refused; what ran before keeps running".
_REFUSED_REASONS = frozenset({Reason.AdmissionDenied, Reason.InvalidManifest})


def health_of(conditions: Sequence[Condition]) -> Health:
    """Healthy when Ready; Degraded on any failure reason; Missing when the process is gone."""
    ready = find(conditions, ConditionType.Ready)
    if ready is not None and ready.is_true:
        return Health.Healthy
    if any(c.reason in FAILURE_REASONS and not c.is_true for c in conditions):
        return Health.Degraded
    predictor = find(conditions, ConditionType.PredictorReady)
    if predictor is not None and not predictor.is_true and predictor.reason in _ABSENT_REASONS:
        return Health.Missing
    return Health.Progressing


def sync_of(*, admitted: bool, serving: str | None, target: str | None) -> Sync:
    """Synced when what main asks for is admitted and is what serves traffic."""
    return Sync.Synced if admitted and target is not None and serving == target else Sync.OutOfSync


@dataclass(frozen=True)
class Event:
    time: str
    endpoint: str
    type: EventType
    reason: str
    message: str
    #: Who made the change (a user name); "" for what the platform does on its own.
    actor: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "endpoint": self.endpoint, "type": self.type.value,
                "reason": self.reason, "message": self.message, "actor": self.actor}


@dataclass(frozen=True)
class RevisionTraffic:
    """One revision in play: its share of traffic and its replicas (KServe's `status.components.predictor.traffic`)."""

    revision: str
    percent: int
    latest: bool
    ready_replicas: int
    desired_replicas: int

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "percent": self.percent, "latest": self.latest,
                "ready_replicas": self.ready_replicas, "desired_replicas": self.desired_replicas}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RevisionTraffic:
        return cls(str(data.get("revision", "")), int(data.get("percent", 0)), bool(data.get("latest")),
                   int(data.get("ready_replicas", 0)), int(data.get("desired_replicas", 0)))


@dataclass(frozen=True)
class EndpointStatus:
    name: str
    namespace: str
    url: str
    sync: Sync
    health: Health
    revision: str  # the revision serving traffic ("" when none)
    conditions: tuple[Condition, ...] = field(default_factory=tuple)
    observed_commit: str = ""
    updated_at: str = ""
    latest_revision: str = ""  # the revision main asks for ("" when main's spec is rejected)
    traffic: tuple[RevisionTraffic, ...] = ()
    replicas: Mapping[str, int] = field(default_factory=dict)  # latest revision: ready, desired, min, max
    limits: Mapping[str, str] = field(default_factory=dict)  # resource -> "value (how it is enforced here)"
    preview_of: int | None = None  # the pull request this endpoint previews (`<endpoint>-pr-<n>`)
    note: str = ""  # a decision of the platform worth saying (e.g. a preview stopped at the limit)
    #: When the reconciler last confirmed this row, and how long ago (set by readers from its heartbeat).
    observed_at: str = ""
    observed_age: float | None = None

    def condition(self, ctype: ConditionType) -> Condition | None:
        return find(self.conditions, ctype)

    @property
    def ready(self) -> bool:
        ready = self.condition(ConditionType.Ready)
        return ready is not None and ready.is_true

    @property
    def refusal(self) -> Condition | None:
        """`Ready` when main's manifest was refused (denied by a policy, or invalid); `revision` still serves."""
        ready = self.condition(ConditionType.Ready)
        refused = ready is not None and not ready.is_true and ready.reason in _REFUSED_REASONS
        return ready if refused else None

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.conditions, key=lambda c: CONDITION_ORDER.index(c.type))
        data: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "url": self.url,
            "sync": self.sync.value,
            "health": self.health.value,
            "revision": self.revision,
            "latest_revision": self.latest_revision,
            "conditions": [c.to_dict() for c in ordered],
            "traffic": [t.to_dict() for t in self.traffic],
            "replicas": dict(self.replicas),
            "limits": dict(self.limits),
            "preview_of": self.preview_of,
            "note": self.note,
            "observed_commit": self.observed_commit,
            "updated_at": self.updated_at,
        }
        if self.observed_at:
            data.update(observed_at=self.observed_at, observed_age=self.observed_age)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointStatus:
        return cls(
            name=str(data["name"]),
            namespace=str(data.get("namespace", "default")),
            url=str(data.get("url", "")),
            sync=Sync(data.get("sync", Sync.OutOfSync)),
            health=Health(data.get("health", Health.Missing)),
            revision=str(data.get("revision", "")),
            conditions=tuple(Condition.from_dict(c) for c in data.get("conditions", [])),
            observed_commit=str(data.get("observed_commit", "")),
            updated_at=str(data.get("updated_at", "")),
            latest_revision=str(data.get("latest_revision", "")),
            traffic=tuple(RevisionTraffic.from_dict(t) for t in data.get("traffic", [])),
            replicas={str(k): int(v) for k, v in (data.get("replicas") or {}).items()},
            limits={str(k): str(v) for k, v in (data.get("limits") or {}).items()},
            preview_of=data["preview_of"] if isinstance(data.get("preview_of"), int) else None,
            note=str(data.get("note") or ""),
        )


def endpoint_url(name: str, namespace: str, *, domain: str, port: int) -> str:
    """The Host-routed URL the gateway answers on, as Kourier would."""
    return f"http://{name}.{namespace}.{domain}:{port}"
