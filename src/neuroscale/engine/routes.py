"""The routes file: the one hand-off from the control plane to the gateway.

Written atomically (temp file + `os.replace`) so the gateway never reads half
a table, and only when an entry changes so its mtime-based reload stays idle.
The file outlives the reconciler: the gateway keeps routing while it restarts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROUTES_VERSION = 1


@dataclass(frozen=True)
class RouteEntry:
    name: str
    namespace: str
    ready: bool
    upstream: str = ""
    revision: str = ""
    reason: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "ready": self.ready, "upstream": self.upstream,
                "revision": self.revision, "reason": self.reason, "message": self.message}


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
        self._last: dict[str, Any] | None = self._read_endpoints()
        self._stamps: dict[str, str] = {}

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
        return [RouteEntry(name=name, namespace=str(e.get("namespace") or "default"), ready=bool(e.get("ready")),
                           upstream=str(e.get("upstream") or ""), revision=str(e.get("revision") or ""),
                           reason=str(e.get("reason") or ""), message=str(e.get("message") or ""))
                for name, e in (self._last or {}).items() if isinstance(e, dict)]

    def write(self, entries: list[RouteEntry]) -> bool:
        """Write the table if it differs from the last one written; True when written."""
        updated = datetime.now(UTC).isoformat(timespec="microseconds")
        document = routes_document(entries, domain=self.domain, updated=updated)
        endpoints: dict[str, Any] = document["endpoints"]
        if endpoints == self._last and self.path.exists():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, self.path)
        last = self._last or {}
        self._stamps = {name: self._stamps.get(name, "") if last.get(name) == entry else updated
                        for name, entry in endpoints.items()}
        self._last = endpoints
        return True
