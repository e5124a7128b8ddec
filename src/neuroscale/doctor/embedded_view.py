"""Lookups the embedded rules share over the snapshot's endpoints, events and engine facts.

One place decides what "recent" means for an endpoint: the events since its
newest `RevisionReady` (within the snapshot's window), so a fault that was
repaired, and followed by a ready revision, is history no rule reads again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.findings import ObjectRef
from neuroscale.status.heartbeat import parse_time
from neuroscale.status.reasons import Reason

Obj = Mapping[str, Any]
#: Evidence a reconciler that does not observe explains: stale status rows, the routes file, the process table.
RECONCILER_EXPLAINS = ("endpoint status", "routes.json", "process table")


def endpoint_ref(endpoint: Obj) -> ObjectRef:
    return ObjectRef(kind="Endpoint", name=str(endpoint.get("name", "")), namespace=str(endpoint.get("namespace", "")))


def condition_of(endpoint: Obj, ctype: str) -> Obj | None:
    return next((c for c in endpoint.get("conditions") or [] if c.get("type") == ctype), None)


def engine(index: SnapshotIndex) -> Obj:
    value = index.host.get("engine")
    return value if isinstance(value, Mapping) else {}


def reconciler_observing(index: SnapshotIndex) -> bool:
    """Is a reconciler alive, not stopped, and publishing fresh heartbeats?"""
    beat = engine(index).get("heartbeat") or {}
    proc: Obj = next((p for p in index.host.get("processes") or [] if p.get("component") == "reconciler"), {})
    return bool(proc.get("alive")) and proc.get("state") not in ("T", "t") and not beat.get("stale", True)


def servers_of(index: SnapshotIndex, endpoint: str) -> list[Obj]:
    return [s for s in engine(index).get("servers") or [] if s.get("endpoint") == endpoint]


def events_since_ready(index: SnapshotIndex, endpoint: Obj) -> list[Obj]:
    """The endpoint's events after its newest `RevisionReady`, oldest first."""
    name = str(endpoint.get("name", ""))
    events = sorted((e for e in index.objects("EngineEvent") if e.get("endpoint") == name),
                    key=lambda e: parse_time(str(e.get("time", ""))) or 0.0)
    ready = [i for i, e in enumerate(events) if e.get("reason") == Reason.RevisionReady]
    return events[ready[-1] + 1:] if ready else events


def serving_revision(endpoint: Obj) -> str:
    """The revision with the largest share that answers (ready replicas, or scaled to zero); "" when none."""
    serving = [t for t in endpoint.get("traffic") or [] if t.get("percent")
               and (int(t.get("ready_replicas", 0)) or not int(t.get("desired_replicas", 0)))]
    best = max(serving, key=lambda t: int(t.get("percent", 0)), default=None)
    if best is not None:
        return str(best.get("revision", ""))
    predictor = condition_of(endpoint, "PredictorReady")
    return str(endpoint.get("revision", "")) if predictor is not None and predictor.get("status") == "True" else ""


def start_fix(index: SnapshotIndex, name: str) -> str:
    """How to get platform component `name` running again, given what else runs."""
    proc: Obj = next((p for p in index.host.get("processes") or [] if p.get("component") == name), {})
    log = f"  # see {proc.get('log_file')}" if proc.get("log_file") else ""
    supervisor = index.host.get("supervisor") or {}
    if supervisor.get("running"):
        return (f"the supervisor (`neuroscale up`, pid {supervisor.get('pid')}) starts it again within a second; "
                f"if it keeps dying, read its log{log}")
    others = [str(p.get("component")) for p in index.host.get("processes") or []
              if p.get("alive") and p.get("component") != name]
    command = (index.host.get("commands") or {}).get(name)
    if others and command:
        return f"{command} &   # starts the {name} next to the running {', '.join(others)}{log}"
    return f"neuroscale up --home {index.host.get('home', '.neuroscale')}{log}"
