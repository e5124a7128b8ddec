"""The routes file: the one hand-off from the control plane to the gateway.

Written atomically (temp file + `os.replace`) so the gateway never reads half
a table, and only when an entry changes so its mtime-based reload stays idle.
The file outlives the reconciler: the gateway keeps routing while it restarts.
An endpoint that requires API keys carries `auth: true` (and, for a preview,
`keys_of`: the endpoint whose keys it accepts); the keys themselves are not
here but in the API-keys file the key service writes. A preview carries
`preview: true`, which the gateway's model repository needs (admins load and
unload endpoints on main only).
A file changed behind the writer's back (an old copy restored, a hand edit)
is noticed by its stat and rewritten on the next tick, so the gateway never
keeps routing by a stale table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neuroscale.atomic_file import replace_file

ROUTES_VERSION = 2


@dataclass(frozen=True)
class TrafficEntry:
    """One revision's share of an endpoint's traffic and the ready replicas that serve it.

    No upstreams with a share means the revision is scaled to zero (or restarting): the gateway
    holds the request while a replica starts, as Knative's activator does.
    """

    revision: str
    percent: int
    upstreams: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "percent": self.percent, "upstreams": list(self.upstreams)}


@dataclass(frozen=True)
class RouteEntry:
    name: str
    namespace: str
    ready: bool
    traffic: tuple[TrafficEntry, ...] = ()
    reason: str = ""
    message: str = ""
    timeout: float = 300.0  # seconds per request (504 after)
    concurrency: int = 0  # in-flight requests per replica (0: no limit; excess waits at the gateway)
    record: tuple[int, int, float] | None = None  # (requests, bytes, retention s) of live traffic kept as a sample
    shadow: tuple[str, int] | None = None  # (revision, percent) live requests are copied to
    auth: str = ""  # requests need an API key of this endpoint ("": no key needed)
    preview: bool = False  # a pull request's preview (`engine.previews`), not an endpoint on main

    @property
    def upstream(self) -> str:
        """The first ready replica of the revision with the largest share ("" when none)."""
        main = max(self.traffic, key=lambda t: t.percent, default=None)
        return main.upstreams[0] if main and main.upstreams else ""

    @property
    def revision(self) -> str:
        main = max(self.traffic, key=lambda t: t.percent, default=None)
        return main.revision if main else ""

    def to_dict(self) -> dict[str, Any]:
        data = {"namespace": self.namespace, "ready": self.ready, "upstream": self.upstream,
                "revision": self.revision, "traffic": [t.to_dict() for t in self.traffic],
                "timeout": self.timeout, "concurrency": self.concurrency,
                "reason": self.reason, "message": self.message}
        if self.record:
            data["record"] = {"max_requests": self.record[0], "max_bytes": self.record[1],
                              "retention_s": self.record[2]}
        if self.shadow:
            data["shadow"] = {"revision": self.shadow[0], "percent": self.shadow[1]}
        if self.auth:
            data["auth"] = True
            if self.auth != self.name:
                data["keys_of"] = self.auth
        if self.preview:
            data["preview"] = True
        return data

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> RouteEntry:
        traffic = tuple(TrafficEntry(str(t.get("revision") or ""), int(t.get("percent") or 0),
                                     tuple(str(u) for u in t.get("upstreams") or ()))
                        for t in data.get("traffic") or () if isinstance(t, dict))
        record, shadow = data.get("record"), data.get("shadow")
        return cls(name=name, namespace=str(data.get("namespace") or "default"), ready=bool(data.get("ready")),
                   traffic=traffic, reason=str(data.get("reason") or ""), message=str(data.get("message") or ""),
                   timeout=float(data.get("timeout") or 300.0), concurrency=int(data.get("concurrency") or 0),
                   record=(int(record["max_requests"]), int(record["max_bytes"]),
                           float(record.get("retention_s") or 0))  # 0: kept until the caps push it out
                   if isinstance(record, dict) else None,
                   shadow=(str(shadow["revision"]), int(shadow["percent"])) if isinstance(shadow, dict) else None,
                   auth=str(data.get("keys_of") or name) if data.get("auth") else "",
                   preview=bool(data.get("preview")))


def routes_document(entries: list[RouteEntry], *, domain: str, updated: str) -> dict[str, Any]:
    return {
        "version": ROUTES_VERSION,
        "domain": domain,
        "updated": updated,
        "endpoints": {e.name: e.to_dict() for e in sorted(entries, key=lambda e: e.name)},
    }


class RoutesWriter:
    """Rewrites the routes file when, and only when, its endpoints or domain change.

    `stamp_of(name)` is the `updated` stamp of the document that last changed
    that endpoint's entry, to compare with the gateway's acknowledgement.
    """

    def __init__(self, path: Path, *, domain: str) -> None:
        self.path = path
        self.domain = domain
        self._written = _stat(path)
        self._last: dict[str, Any] | None = self._read_endpoints()
        self._stamps: dict[str, str] = {}
        self._entries: list[RouteEntry] | None = None  # what the last `write` was given
        #: Set when the last `write` replaced a file someone else had changed.
        self.repaired = False

    def stamp_of(self, name: str) -> str:
        return self._stamps.get(name, "")

    def _read_endpoints(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("domain") != self.domain:
            return None
        endpoints = document.get("endpoints")
        return endpoints if isinstance(endpoints, dict) else None

    def entries(self) -> list[RouteEntry]:
        """What the routes file holds now (for this domain)."""
        return [RouteEntry.from_dict(name, e) for name, e in (self._last or {}).items() if isinstance(e, dict)]

    def write(self, entries: list[RouteEntry]) -> bool:
        """Write the table if it differs from the last one written; True when written."""
        changed_outside = _stat(self.path) != self._written
        if entries == self._entries and not changed_outside:
            self.repaired = False
            return False  # most ticks: the same entries (the loop reuses unchanged ones), no document to build
        self._entries = list(entries)
        updated = datetime.now(UTC).isoformat(timespec="microseconds")
        document = routes_document(entries, domain=self.domain, updated=updated)
        endpoints: dict[str, Any] = document["endpoints"]
        self.repaired = changed_outside and endpoints == self._last
        if endpoints == self._last and not changed_outside:
            return False
        replace_file(self.path, json.dumps(document, indent=2, sort_keys=False) + "\n")
        self._written = _stat(self.path)
        last = self._last or {}
        self._stamps = {name: self._stamps.get(name, "") if last.get(name) == entry else updated
                        for name, entry in endpoints.items()}
        self._last = endpoints
        return True


def _stat(path: Path) -> tuple[int, int, int] | None:
    """What identifies one write of the file: inode, mtime and size (None when it is missing)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size
