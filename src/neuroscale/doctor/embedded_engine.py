"""The embedded engine's present, read for a diagnosis: heartbeat, model servers, routes, recent events.

Rules judge the present, so the snapshot carries what is true now, observed
directly rather than inferred from history: whether each recorded model-server
process is alive, stopped (`T` in /proc) or answering its liveness probe and
whether it has loaded its model (its own `ModelLoaded:` record names its port)
and whether its model file is still the one it loaded (the record's size and mtime);
the reconciler's heartbeat and its age; what the routes file routes where and
when it was written; and only the events of a recent window (`--since`), which
the rules narrow further to what happened since a revision last became ready.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import httpx

from neuroscale.engine import procfs
from neuroscale.engine.runtime import LIVE_PATH, LOADED_PREFIX, log_tail
from neuroscale.engine.store import StatusStore
from neuroscale.home import DEFAULT_HOST, Home
from neuroscale.status.heartbeat import parse_time

PROBE_TIMEOUT_S = 0.3
_LOADED_FILE = re.compile(r"; model file (?P<path>.+?) \((?P<size>\d+) bytes, mtime_ns (?P<mtime>\d+)\); ")
EVENTS_READ = 1000


def engine_facts(home: Home, store: StatusStore, *, now: float) -> dict[str, Any]:
    heartbeat = store.heartbeat()
    facts: dict[str, Any] = {"heartbeat": None, "servers": [], "routes": _routes(home, now=now)}
    if heartbeat is not None:
        age = heartbeat.age(now)
        facts["heartbeat"] = {**heartbeat.to_dict(), "age_s": round(age, 2) if age != float("inf") else None,
                              "ahead_s": round(heartbeat.ahead(now), 2),
                              "stale": heartbeat.stale(now)}
    with httpx.Client(timeout=PROBE_TIMEOUT_S) as client:
        facts["servers"] = [_server(home, row, client) for row in store.servers()]
    return facts


def recent_events(store: StatusStore, *, since: float) -> list[dict[str, Any]]:
    """Events no older than `since` (epoch seconds), oldest first."""
    found = []
    for event in store.events(limit=EVENTS_READ):
        stamp = parse_time(event.time)
        if stamp is not None and stamp >= since:
            found.append({"kind": "EngineEvent", **event.to_dict()})
    return found


def _server(home: Home, row: Any, client: httpx.Client) -> dict[str, Any]:
    alive = procfs.is_alive(row.pid, row.start_time)
    log = home.server_logs_dir / procfs.log_name(row.revision, row.replica)
    facts: dict[str, Any] = {
        "pid": row.pid, "endpoint": row.endpoint, "revision": row.revision, "replica": row.replica,
        "port": row.port, "address": f"{DEFAULT_HOST}:{row.port}", "alive": alive,
        "state": procfs.state(row.pid) if alive else "", "log": str(log), "loaded": "", "live": None,
    }
    # The port is new for every start, so the load record naming it belongs to this very process.
    serving_here = re.compile(rf"serving on http://\S+:{row.port}(\s|$)")
    facts["loaded"] = next((line for line in reversed(log_tail(log, 0)) if line.startswith(LOADED_PREFIX)
                            and serving_here.search(line)), "")
    facts["model_file"] = _model_file(str(facts["loaded"])) if alive else None
    if alive and facts["loaded"] and facts["state"] not in ("T", "t", "Z"):
        try:
            facts["live"] = client.get(f"http://{facts['address']}{LIVE_PATH}").status_code == 200
        except httpx.HTTPError:
            facts["live"] = False
    return facts


def _model_file(loaded: str) -> dict[str, Any] | None:
    """The model file as the server loaded it (its `ModelLoaded:` record) and as it is now."""
    found = _LOADED_FILE.search(loaded)
    if found is None:
        return None
    facts: dict[str, Any] = {"path": found["path"], "loaded_size": int(found["size"]),
                             "loaded_mtime_ns": int(found["mtime"]), "size": None, "mtime_ns": None}
    try:
        now = os.stat(found["path"])
    except OSError:
        return facts
    facts["size"], facts["mtime_ns"] = now.st_size, now.st_mtime_ns
    return facts


def _routes(home: Home, *, now: float) -> dict[str, Any]:
    path = home.routes_file
    facts: dict[str, Any] = {"path": str(path), "exists": path.is_file(), "endpoints": {}, "age_s": None}
    try:
        facts["age_s"] = round(now - os.stat(path).st_mtime, 2)
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        facts["error"] = f"{type(exc).__name__}: {exc}" if facts["exists"] else ""
        return facts
    endpoints = document.get("endpoints") if isinstance(document, dict) else None
    facts["updated"] = str(document.get("updated") or "") if isinstance(document, dict) else ""
    for name, entry in (endpoints.items() if isinstance(endpoints, dict) else []):
        if not isinstance(entry, dict):
            continue
        traffic = [t for t in entry.get("traffic") or [] if isinstance(t, dict)]
        facts["endpoints"][str(name)] = {
            "ready": bool(entry.get("ready")),
            "upstreams": sorted({str(u) for t in traffic for u in t.get("upstreams") or []}),
            "revisions": [str(t.get("revision") or "") for t in traffic if t.get("percent")],
        }
    return facts
